"""Bad input gets one clear line naming the fix and exit code 2, never a traceback."""

import json

import pytest

from tpudeck.core.spec import RunSpec

from .conftest import tpudeck


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def corrupt_checkpoint_run(tmp_path, corpus):
    run = tmp_path / "run"
    (run / "checkpoints" / "step-5").mkdir(parents=True)
    spec = RunSpec.from_dict({"train_file": str(corpus), "model_size": "demo", "vocab_size": 300})
    (run / "spec.json").write_text(spec.to_json())
    (run / "checkpoints" / "step-5" / "meta.json").write_text('{"step": 5}')
    (run / "checkpoints" / "step-5" / "state.msgpack").write_bytes(b"\x93not a checkpoint")
    return ["--resume", "--output_dir", str(run)]


CASES = {
    "missing train file": (lambda t, c: ["--train_file", str(t / "nope.txt")], "no such file"),
    "unknown model type": (
        lambda t, c: ["--train_file", str(c), "--model_type", "gpt5"],
        "invalid choice",
    ),
    "typo in a flag": (
        lambda t, c: ["--train_file", str(c), "--learning_rat", "1e-3"],
        "did you mean --learning_rate?",
    ),
    "block larger than positions": (
        lambda t, c: ["--train_file", str(c), "--model_size", "demo", "--block_size", "4096"],
        "larger than the model's 128 positions",
    ),
    "batch not divisible by devices": (
        lambda t, c: [
            "--train_file",
            str(c),
            "--model_size",
            "demo",
            "--total_train_batch_size",
            "12",
        ],
        "does not split over 8 devices",
    ),
    "empty dataset": (
        lambda t, c: ["--train_file", str(t / "empty.txt"), "--model_size", "demo"],
        "empty.txt is empty; add data to it",
    ),
    "unknown column": (
        lambda t, c: ["--train_file", str(jsonl(t / "d.jsonl", [{"body": "hello"}] * 50))],
        "has no column 'text' (columns: body); pass --text_column NAME",
    ),
    "unwritable output dir": (
        lambda t, c: ["--train_file", str(c), "--output_dir", str(t / "empty.txt" / "run")],
        "is not writable",
    ),
    "data smaller than one batch": (
        lambda t, c: [
            "--train_file",
            str(jsonl(t / "small.jsonl", [{"text": "a b c d e f"}] * 20)),
            "--model_size",
            "demo",
            "--vocab_size",
            "300",
            "--block_size",
            "4",
        ],
        "fewer than one global batch",
    ),
    "no text in the column": (
        lambda t, c: ["--train_file", str(jsonl(t / "d.jsonl", [{"text": " "}] * 5))],
        "has no text in column 'text'",
    ),
    "negative learning rate": (
        lambda t, c: ["--train_file", str(c), "--learning_rate", "-1"],
        "must be positive",
    ),
    "resume without a run": (lambda t, c: ["--resume"], "--resume needs --output_dir"),
    "corrupt checkpoint": (corrupt_checkpoint_run, "is corrupt"),
    "model dir without weights": (
        lambda t, c: ["--train_file", str(c), "--model_name_or_path", str(t)],
        "no config.json there",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, demo_corpus):
    (tmp_path / "empty.txt").write_text("")
    make_args, expected = CASES[case]
    result = tpudeck("train", *make_args(tmp_path, demo_corpus))
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1]
    assert expected in errors[0]
