"""Whole processes side by side: `tpudeck train` and Hugging Face's run_clm_flax.py (and
run_mlm_flax.py) on the same work, each launched as a user launches it, in the same run.

    python bench/vs_script.py --script PATH/TO/run_clm_flax.py \
        [--mlm-script PATH/TO/run_mlm_flax.py] [--shapes tiny lm-head ...]

The scripts are the user's own copies (their text is the transformers repository's, and no
package carries them); they run in bench/.hf-venv (transformers 4.57, the last release with
Flax models, on jax 0.4.13: made once, as train_throughput.py makes it, with datasets).
The masked-LM row runs only with --mlm-script.
Both sides get the same corpus (the demo's stories), the same byte-level BPE tokenizer
(trained here once: GPT-2's special tokens, or RoBERTa's for the masked LM), the same
config.json, per-device batch, block size and steps, float32 on one CPU device, AdamW
without clipping, no evaluation or saving inside the timed steps; after them each evaluates
64 examples and saves the model (tpudeck also its resumable checkpoint), which the peak RSS
counts. run_clm_flax.py trains one epoch of exactly `steps` batches (--max_train_samples);
run_mlm_flax.py has no such flag, so it is given a training file of just enough lines for
`steps` batches and a validation file of just enough for 64 blocks; tpudeck the same
examples for the same steps.

Each figure is read the same way on both sides, from the process as it runs:
- tokens/s: the tokens of the steps between the first and the last logged step, over the
  wall time between those two log lines;
- first step s: launch to the first logged step (imports, data, tokenizer, init, compile and
  the first `logging_steps` steps);
- peak RSS: the largest of the process and its children (getrusage of a wrapper whose only
  child it is; tpudeck's trainer has one child, which prepares the blocks while the trainer
  imports jax, and peaks lower).
tpudeck runs twice: cold, then relaunched on the compile cache the first run left (its
`compile` event says the seconds and whether the cache was hit). Ratios are ours/theirs
for throughput, theirs-relative for time and memory (lower is better).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from train_throughput import HF_PINS, ensure_hf_venv

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Shape:
    recipe: str  # "clm" (run_clm_flax.py's work) or "mlm" (run_mlm_flax.py's)
    config: dict  # the family's HF config.json values that make the shape
    steps: int  # timed steps


SHAPES = {
    "tiny": Shape("clm", {"n_embd": 256, "n_layer": 2, "n_head": 4, "vocab_size": 8192}, 200),
    "lm-head": Shape("clm", {"n_embd": 128, "n_layer": 2, "n_head": 4, "vocab_size": 50257}, 100),
    "gpt2-small": Shape("clm", {"n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257},
                        12),
    "roberta-mlm": Shape("mlm", {"hidden_size": 256, "num_hidden_layers": 4,
                                 "num_attention_heads": 4, "intermediate_size": 1024,
                                 "vocab_size": 8192}, 100),
}  # fmt: skip
# What the rest of each family's config.json says (dropout as the families' defaults)
FAMILY_CONFIG = {
    "clm": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_positions": 1024,
            "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "bos_token_id": 0,
            "eos_token_id": 0},
    # RoBERTa's positions start after the padding id: 514 for 512 tokens
    "mlm": {"model_type": "roberta", "architectures": ["RobertaForMaskedLM"],
            "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-5,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "bos_token_id": 0,
            "pad_token_id": 1, "eos_token_id": 2},
}  # fmt: skip
BATCH, BLOCK = 8, 128
EVAL_EXAMPLES = 64  # each side evaluates this many at the end, then saves the model
OURS_STEP = re.compile(r"step (\d+)/\d+\s+loss")
THEIRS_STEP = re.compile(r"Step\.\.\. \((\d+) \| Loss")  # cur_step counts from 0
PEAK = "peak-rss-kb"
WRAPPER = f"""
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print("{PEAK}", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
sys.exit(code)
"""


@dataclasses.dataclass(frozen=True)
class Files:
    """What both sides read."""

    train: Path
    validation: Path | None  # None: each side holds some training texts out
    tokenizer: Path
    config: Path


def prepare(where: Path, name: str, shape: Shape) -> Files:
    from tpudeck.core.data.demo_corpus import write_demo_corpus
    from tpudeck.core.data.tokenizer import GPT2_KIND, MASKED_LM_KIND, train_byte_level_bpe

    corpus = where / "corpus.txt"
    if not corpus.exists():
        write_demo_corpus(corpus, stories=40_000)
    kind = MASKED_LM_KIND if shape.recipe == "mlm" else GPT2_KIND
    tokenizer = where / ("tokenizer-mlm" if shape.recipe == "mlm" else "tokenizer")
    if not tokenizer.exists():
        lines = corpus.read_text().splitlines()
        train_byte_level_bpe(lines, 8192, tokenizer, max_len=1024, kind=kind)
    config = where / f"config-{name}"
    config.mkdir(exist_ok=True)
    (config / "config.json").write_text(json.dumps({**FAMILY_CONFIG[shape.recipe], **shape.config}))
    if shape.recipe != "mlm":
        return Files(corpus, None, tokenizer, config)
    train, validation = _mlm_text_files(where, corpus, tokenizer, shape.steps)
    return Files(train, validation, tokenizer, config)


def _mlm_text_files(where: Path, corpus: Path, tokenizer: Path, steps: int) -> tuple[Path, Path]:
    """The corpus's first lines that make `steps` batches of run_mlm_flax.py's blocks, and
    the next ones that make EVAL_EXAMPLES blocks: it tokenises every line and packs each
    1,000 lines' tokens into blocks, dropping each thousand's remainder."""
    from tokenizers import Tokenizer

    lines = corpus.read_text().splitlines()
    lengths = [len(e.ids) for e in Tokenizer.from_file(str(tokenizer / "tokenizer.json"))
               .encode_batch(lines)]  # fmt: skip

    def lines_for(blocks: int, start: int) -> int:
        """How many lines from `start` make at least `blocks` blocks."""
        done, group = 0, 0  # whole thousands' blocks, and the open thousand's tokens
        for count, length in enumerate(lengths[start:], start=1):
            group += length
            if done + group // BLOCK >= blocks:
                return count
            if count % 1000 == 0:
                done, group = done + group // BLOCK, 0
        raise SystemExit(f"the corpus is too small for {blocks} blocks")

    train_lines = lines_for(steps * BATCH, 0)
    eval_lines = lines_for(EVAL_EXAMPLES, train_lines)
    train, validation = where / f"mlm-train-{steps}.txt", where / "mlm-validation.txt"
    train.write_text("\n".join(lines[:train_lines]) + "\n")
    validation.write_text("\n".join(lines[train_lines : train_lines + eval_lines]) + "\n")
    return train, validation


def launch(argv: list[str], env: dict, step_line: re.Pattern, first_done: int) -> dict:
    """Run argv under the RSS wrapper, timestamping its log lines as they come."""
    began = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", WRAPPER, *argv], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    steps: list[tuple[int, float]] = []  # (steps done, seconds since launch)
    peak, lines = None, []

    def read() -> None:
        nonlocal peak
        for line in child.stdout:
            lines.append(line)
            if match := step_line.search(line):
                steps.append((int(match.group(1)) + first_done, time.monotonic() - began))
            elif PEAK in line:  # after a progress bar's carriage returns, maybe
                peak = int(line.split(PEAK)[1].split()[0]) / 1024

    reader = threading.Thread(target=read)
    reader.start()
    code = child.wait()
    reader.join()
    if code or len(steps) < 2:
        return {"error": f"exit {code}: {''.join(lines[-3:]).strip()}"}
    (first, t_first), (last, t_last) = steps[0], steps[-1]
    return {"tokens_per_s": (last - first) * BATCH * BLOCK / (t_last - t_first),
            "first_step_s": t_first, "peak_mb": peak}  # fmt: skip


def theirs(script: str, python: Path, files: Files, shape: Shape, where: Path) -> dict:
    env = {**_env(), "HF_DATASETS_CACHE": str(where / "hf-datasets")}
    steps, logging = shape.steps, str(_logging(shape.steps))
    argv = [str(python), script, "--output_dir", str(where / "theirs"), "--overwrite_output_dir",
            "--do_train", "--do_eval", "--train_file", str(files.train), "--config_name",
            str(files.config), "--tokenizer_name", str(files.tokenizer),
            "--per_device_train_batch_size", str(BATCH), "--per_device_eval_batch_size",
            str(BATCH), "--num_train_epochs", "1", "--logging_steps", logging,
            "--eval_steps", "1000000", "--save_steps", str(steps - 1),  # saves after its last
            "--dtype", "float32", "--learning_rate", "3e-4"]  # fmt: skip
    argv += _data_flags(shape, files)
    if shape.recipe != "mlm":  # run_mlm_flax.py has no sample limits: its files are sized
        argv += ["--max_train_samples", str(steps * BATCH), "--max_eval_samples",
                 str(EVAL_EXAMPLES)]  # fmt: skip
    return launch(argv, env, THEIRS_STEP, first_done=1)


def ours(files: Files, shape: Shape, where: Path, run: str) -> dict:
    env = {**_env(), "TPUDECK_HOME": str(where / "home")}  # the compile cache lives there
    steps = shape.steps
    argv = [sys.executable, "-m", "tpudeck", "train", "--platform", "cpu", "--recipe",
            shape.recipe, "--model_type", FAMILY_CONFIG[shape.recipe]["model_type"],
            "--config_name", str(files.config), "--tokenizer_name", str(files.tokenizer),
            "--train_file", str(files.train), "--per_device_train_batch_size", str(BATCH),
            "--max_steps", str(steps), "--max_train_samples", str(steps * BATCH),
            "--logging_steps", str(_logging(steps)), "--max_eval_samples", str(EVAL_EXAMPLES),
            "--save_steps", str(steps), "--max_grad_norm", "0", "--learning_rate", "3e-4",
            "--output_dir", str(where / run)]  # fmt: skip
    done = launch([*argv, *_data_flags(shape, files)], env, OURS_STEP, first_done=0)
    events = (where / run / "events.jsonl").read_text().splitlines() if "error" not in done else []
    compiled = [json.loads(e) for e in events if '"kind": "compile"' in e]
    if compiled:
        done.update(compile_s=compiled[0]["seconds"], cached=compiled[0]["cached"])
    return done


def _data_flags(shape: Shape, files: Files) -> list[str]:
    """The flags both sides share for the recipe's data: the block length by its script's
    name, and the masked LM's validation file."""
    if shape.recipe == "mlm":
        return ["--validation_file", str(files.validation), "--max_seq_length", str(BLOCK)]
    return ["--block_size", str(BLOCK)]


def _logging(steps: int) -> int:
    return max(1, steps // 10)


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    return {**env, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", required=True, help="your copy of run_clm_flax.py")
    parser.add_argument("--mlm-script", help="your copy of run_mlm_flax.py (the masked-LM row)")
    parser.add_argument("--shapes", nargs="*", choices=list(SHAPES), default=list(SHAPES))
    args = parser.parse_args()
    scripts = {"clm": args.script, "mlm": args.mlm_script}
    python = ensure_hf_venv(extra=("datasets==3.6.*", "pyarrow<19", "tqdm"))
    if python is None:
        raise SystemExit(f"the baseline needs {' '.join(HF_PINS)} in bench/.hf-venv")
    print(f"{'shape':<11} {'side':<14} {'tok/s':>8} {'1st step s':>10} {'compile s':>9} "
          f"{'peak MB':>8}   ours/theirs: tok/s  1st step  peak")  # fmt: skip
    for name in args.shapes:
        shape = SHAPES[name]
        if not scripts[shape.recipe]:
            print(f"{name:<11} skipped: pass --mlm-script PATH/TO/run_mlm_flax.py", flush=True)
            continue
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
            where = Path(tmp)
            files = prepare(HERE / ".vs-script-data", name, shape)
            rows = {"theirs": theirs(scripts[shape.recipe], python, files, shape, where),
                    "ours": ours(files, shape, where, "cold"),
                    "ours (cache)": ours(files, shape, where, "relaunch")}  # fmt: skip
        _print_rows(name, rows)
    print(f"{BATCH} x {BLOCK} tokens a step, float32, one CPU device")


def _print_rows(name: str, rows: dict[str, dict]) -> None:
    base = rows["theirs"]
    for side, row in rows.items():
        if "error" in row:
            print(f"{name:<11} {side:<14} failed: {row['error']}", flush=True)
            continue
        compile_s = f"{row['compile_s']:.1f}" if "compile_s" in row else "-"
        ratios = ""
        if side != "theirs" and "error" not in base:
            ratios = (f"{row['tokens_per_s'] / base['tokens_per_s']:.2f}x "
                      f"{row['first_step_s'] / base['first_step_s']:.2f}x "
                      f"{row['peak_mb'] / base['peak_mb']:.2f}x")  # fmt: skip
        print(f"{name:<11} {side:<14} {row['tokens_per_s']:>8,.0f} "
              f"{row['first_step_s']:>10.1f} {compile_s:>9} {row['peak_mb']:>8,.0f}   "
              f"{ratios}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
