"""Data preparation at scale: seconds and peak host memory to turn a text corpus into
training blocks, tpudeck's way (Arrow rows read in batches, tokenised into a memory-mapped
int32 file, reused by the next launch) beside the HF scripts' way in the same run
(datasets.map tokenising into lists of ids, then group_texts, as run_clm_flax.py does).

Each measurement runs in a fresh process; peak RSS is its ru_maxrss. Both ways use the same
byte-level BPE tokenizer (trained once on the first MB) and block size.

    python bench/data_pipeline.py [--mb 100 1000] [--block 512]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from fresh_process import measure

OURS = """
import resource, sys, time, json
from pathlib import Path
from tpudeck.core.data.text_files import load_tables
from tpudeck.core.data.token_blocks import packed_blocks
from tpudeck.core.data.tokenizer import load_tokenizer, eos_id
from tpudeck.core.spec import RunSpec
corpus, tok_dir, cache, block = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
start = time.perf_counter()
tables = load_tables(RunSpec(train_file=corpus))
tokenizer = load_tokenizer(tok_dir)
blocks = packed_blocks(tables.train, "text", tokenizer, eos_id(tokenizer), block, cache)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": seconds, "peak_gib": peak, "blocks": len(blocks)}))
"""

THEIRS = """
import resource, sys, time, json
from itertools import chain
import datasets
from tokenizers import Tokenizer
corpus, tok_dir, cache, block = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
datasets.disable_progress_bars()
start = time.perf_counter()
ds = datasets.load_dataset("text", data_files={"train": corpus}, split="train", cache_dir=cache)
tokenizer = Tokenizer.from_file(tok_dir + "/tokenizer.json")
eos = tokenizer.token_to_id("<|endoftext|>")

def tokenize(batch):  # the scripts' tokenize_function (a fast tokenizer's batch call)
    return {"input_ids": [e.ids for e in tokenizer.encode_batch(batch["text"])]}

def group_texts(examples):  # run_clm_flax.py's, verbatim in spirit
    concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
    total = (len(concatenated["input_ids"]) // block) * block
    return {k: [t[i : i + block] for i in range(0, total, block)] for k, t in concatenated.items()}

tokenized = ds.map(tokenize, batched=True, remove_columns=["text"])
blocks = tokenized.map(group_texts, batched=True)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": seconds, "peak_gib": peak, "blocks": len(blocks)}))
"""


def write_corpus(path: Path, megabytes: int) -> None:
    """Stories from the demo corpus, numbered so no line repeats, to `megabytes` of text."""
    from tpudeck.core.data.demo_corpus import write_demo_corpus

    stories = write_demo_corpus(path.with_suffix(".seed.txt")).read_text().splitlines()
    with open(path, "w") as out:
        written, n = 0, 0
        while written < megabytes * 2**20:
            line = f"{stories[n % len(stories)]} (story {n})\n"
            out.write(line)
            written, n = written + len(line), n + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--block", type=int, default=512)
    args = parser.parse_args()
    from tpudeck.core.data.tokenizer import train_byte_level_bpe

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_corpus(tmp / "seed.txt", 1)
        train_byte_level_bpe(
            (tmp / "seed.txt").read_text().splitlines(), 8000, tmp / "tok", args.block
        )
        print(f"{'corpus':>8} {'way':<28} {'seconds':>8} {'peak GiB':>9} {'blocks':>10}")
        for mb in args.mb:
            corpus = tmp / f"corpus-{mb}.txt"
            write_corpus(corpus, mb)
            rows = {}
            for name, program, cache in (
                ("tpudeck, first launch", OURS, "ours"),
                ("tpudeck, cached relaunch", OURS, "ours"),
                ("HF scripts (map+group_texts)", THEIRS, f"theirs-{mb}"),
            ):
                rows[name] = measure(program, str(corpus), str(tmp / "tok"), str(tmp / cache),
                                     str(args.block))  # fmt: skip
                row = rows[name]
                print(f"{mb:>6}MB {name:<28} {row['seconds']:>8.1f} {row['peak_gib']:>9.2f} "
                      f"{row['blocks']:>10,}", flush=True)  # fmt: skip
            first, theirs = rows["tpudeck, first launch"], rows["HF scripts (map+group_texts)"]
            print(f"{'':>8} tpudeck/HF: {first['seconds'] / theirs['seconds']:.2f}x the time, "
                  f"{first['peak_gib'] / theirs['peak_gib']:.2f}x the peak memory")  # fmt: skip
            corpus.unlink()


if __name__ == "__main__":
    main()
