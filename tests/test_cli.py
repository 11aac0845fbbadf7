"""The installed command: `tpudeck` and `python -m tpudeck` take the HF example flag names."""

import shutil
import subprocess
import sys
from pathlib import Path

from .builders import tpudeck


def test_train_help_offers_the_hugging_face_flag_names():
    result = tpudeck("train", "--help")
    assert result.returncode == 0
    for flag in (
        "--model_type",
        "--config_name",
        "--tokenizer_name",
        "--train_file",
        "--validation_file",
        "--block_size",
        "--per_device_train_batch_size",
        "--learning_rate",
        "--warmup_steps",
        "--num_train_epochs",
        "--max_steps",
        "--logging_steps",
        "--eval_steps",
        "--save_steps",
        "--dtype",
        "--seed",
        "--output_dir",
        "--demo",
        "--resume",
    ):
        assert flag in result.stdout


def test_console_script_is_installed_beside_the_interpreter():
    script = Path(sys.executable).with_name("tpudeck")
    assert script.exists() or shutil.which("tpudeck")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


def test_help_lists_every_command():
    result = tpudeck("--help")
    assert result.returncode == 0 and "usage: tpudeck" in result.stdout
    for command in ("train", "run", "demo", "ui", "ls", "logs", "stop", "rm", "queue", "who"):
        assert command in result.stdout


def test_tokenizer_command_trains_one_that_transformers_loads(tmp_path, demo_corpus):
    from transformers import AutoTokenizer

    result = tpudeck("tokenizer", "--train_file", str(demo_corpus), "--vocab_size", "300",
                     "--output_dir", str(tmp_path / "tok"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert 256 < len(tokenizer) <= 300
    assert tokenizer.decode(tokenizer("the brave fox")["input_ids"]) == "the brave fox"
