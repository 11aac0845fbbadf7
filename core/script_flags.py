"""The flags of the six Hugging Face Flax example scripts, and what tpudeck does with each.

Most are RunSpec fields of the same name. The rest are here: another name for a field
(run_flax_glue.py's --max_train_steps is --max_steps), or accepted with one line saying
what tpudeck does instead (--do_train). No flag of these scripts is "unrecognized"; the
README's table is written from this module (tests/test_script_flags.py keeps them equal).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

_MODEL = "model_name_or_path model_type config_name tokenizer_name cache_dir model_revision \
use_fast_tokenizer dtype token use_auth_token trust_remote_code"
_TRAINING = "output_dir overwrite_output_dir do_train do_eval per_device_train_batch_size \
per_device_eval_batch_size learning_rate weight_decay adam_beta1 adam_beta2 adam_epsilon \
adafactor num_train_epochs warmup_steps logging_steps save_steps eval_steps seed push_to_hub \
hub_model_id hub_token gradient_checkpointing"
_TEXT = "dataset_name dataset_config_name train_file validation_file overwrite_cache \
validation_split_percentage preprocessing_num_workers"

# Each script's flags, as its argument dataclasses (or argparse, for run_flax_glue.py's
# first version, whose names are kept) define them.
SCRIPTS = {
    "run_clm_flax.py": f"{_MODEL} {_TEXT} {_TRAINING} max_train_samples max_eval_samples \
block_size keep_linebreaks",
    "run_mlm_flax.py": f"{_MODEL} {_TEXT} {_TRAINING} train_ref_file validation_ref_file \
max_seq_length mlm_probability pad_to_max_length line_by_line",
    "run_t5_mlm_flax.py": f"{_MODEL} {_TEXT} {_TRAINING} train_ref_file validation_ref_file \
max_seq_length mlm_probability mean_noise_span_length",
    "run_summarization_flax.py": f"{_MODEL} {_TEXT} {_TRAINING} text_column summary_column \
test_file max_source_length max_target_length val_max_target_length max_train_samples \
max_eval_samples max_predict_samples source_prefix predict_with_generate num_beams do_predict \
label_smoothing_factor",
    "run_flax_glue.py": f"{_MODEL} {_TRAINING} use_slow_tokenizer task_name text_column_name \
label_column_name train_file validation_file test_file preprocessing_num_workers overwrite_cache \
max_seq_length max_train_samples max_eval_samples max_predict_samples do_predict max_length \
max_train_steps num_warmup_steps",
    "run_image_classification.py": f"{_MODEL} {_TRAINING} train_dir validation_dir image_size \
max_train_samples max_eval_samples overwrite_cache preprocessing_num_workers",
}


@dataclasses.dataclass(frozen=True)
class ScriptFlag:
    """A script's flag that is not a RunSpec field: exactly one of `field` (it sets that
    field), `sets` (it sets several) or `instead` (accepted: what tpudeck does instead)."""

    kind: type  # what its value parses as; a bool flag also works alone
    field: str | None = None
    instead: str | None = None
    # (fields it sets, from its value; what that means) where it sets more than one field
    sets: tuple[Callable[[object], dict], str] | None = None


_NO_PREDICT = "tpudeck has no prediction pass: evaluate a test file as --validation_file"
# run_mlm_flax.py and run_t5_mlm_flax.py declare the reference files (run_mlm_wwm.py's
# whole-word masking for Chinese, a PyTorch script) and never open them.
_UNREAD = "the Flax scripts never read it, nor does tpudeck (it masks tokens, not whole words)"
_FAST = "tpudeck always uses the fast tokenizer (the tokenizers library)"

FLAGS = {
    "max_length": ScriptFlag(int, field="max_seq_length"),
    "max_train_steps": ScriptFlag(int, field="max_steps"),
    "num_warmup_steps": ScriptFlag(int, field="warmup_steps"),
    "text_column_name": ScriptFlag(str, field="sentence1_column"),
    "label_column_name": ScriptFlag(str, field="label_column"),
    "token": ScriptFlag(str, field="hub_token"),
    "do_train": ScriptFlag(bool, instead="tpudeck always trains"),
    "do_eval": ScriptFlag(
        bool, instead="tpudeck evaluates on the validation split at the end and every --eval_steps"
    ),
    "do_predict": ScriptFlag(bool, instead=_NO_PREDICT),
    "test_file": ScriptFlag(str, instead=_NO_PREDICT),
    "max_predict_samples": ScriptFlag(int, instead=_NO_PREDICT),
    "overwrite_cache": ScriptFlag(bool, instead="tpudeck prepares the data afresh at each launch"),
    "preprocessing_num_workers": ScriptFlag(
        int, instead="tpudeck tokenises in batches on the tokenizers library's own threads"
    ),
    "use_fast_tokenizer": ScriptFlag(bool, instead=_FAST),
    "use_slow_tokenizer": ScriptFlag(bool, instead=_FAST),
    "use_auth_token": ScriptFlag(
        bool, instead="tpudeck uses the token of HF_TOKEN, `hf auth login` or --hub_token"
    ),
    "trust_remote_code": ScriptFlag(
        bool, instead="tpudeck runs its own Flax models, never code from the Hub"
    ),
    "pad_to_max_length": ScriptFlag(
        bool, instead="tpudeck pads every batch to one length per run, so the step compiles once"
    ),
    "keep_linebreaks": ScriptFlag(
        bool, instead="tpudeck ends each line with the tokenizer's end-of-text token as it packs"
    ),
    "task_name": ScriptFlag(
        str,
        sets=(
            lambda task: {"dataset_name": "nyu-mll/glue", "dataset_config_name": task},
            "GLUE from the Hub: `--dataset_name nyu-mll/glue --dataset_config_name TASK`",
        ),
    ),
    "train_ref_file": ScriptFlag(str, instead=_UNREAD),
    "validation_ref_file": ScriptFlag(str, instead=_UNREAD),
    "predict_with_generate": ScriptFlag(
        bool, instead="tpudeck's summarization always evaluates by generating, with ROUGE"
    ),
}


def take_script_flags(given: dict) -> tuple[dict, list[str], str | None]:
    """(`given` with the scripts' own flags taken out, a note for each that tpudeck takes
    otherwise, the Hub token if --token gave one). Another name sets its field; given with
    its field too, TpudeckError."""
    from .errors import TpudeckError

    given, notes, token = dict(given), [], None
    for name in [n for n in given if n in FLAGS]:
        flag, value = FLAGS[name], given.pop(name)
        if flag.instead:
            notes.append(f"--{name}: {flag.instead}")
        elif flag.sets:
            given.update(flag.sets[0](value))
        elif flag.field == "hub_token":
            token = value
        elif flag.field in given:
            raise TpudeckError(f"--{name} is another name for --{flag.field}: pass one of them")
        elif flag.field:
            given[flag.field] = value
    return given, notes, token


def readme_table(spec_fields: set[str]) -> str:
    """The README's table: every flag of the six scripts, which scripts have it, and what
    tpudeck does with it (`spec_fields`: the RunSpec fields and launch flags)."""
    short = {s: s[4:-3].replace("_flax", "").replace("flax_", "") for s in SCRIPTS}  # run_*.py
    names = sorted({name for flags in SCRIPTS.values() for name in flags.split()})
    rows = ["| flag | scripts | in tpudeck |", "| --- | --- | --- |"]
    for name in names:
        having = [short[s] for s, flags in SCRIPTS.items() if name in flags.split()]
        scripts = "all six" if len(having) == len(SCRIPTS) else ", ".join(having)
        flag = FLAGS.get(name)
        if name in spec_fields:
            does = "the same"
        elif flag.sets:
            does = flag.sets[1]
        elif flag.field:
            does = f"another name for `--{flag.field}`"
        else:
            does = f"accepted: {flag.instead}"
        rows.append(f"| `--{name}` | {scripts} | {does} |")
    return "\n".join(rows)
