"""Bad input gets one clear line naming the fix and exit code 2, never a traceback."""

import json
import os

import pytest

from tpudeck.core.devices.expected import expected_devices
from tpudeck.core.spec import RunSpec

from .builders import V2_8, V3_8, fake_pci, lock_was_taken, one_line_error, tpudeck


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
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, demo_corpus, tpudeck_home):
    (tmp_path / "empty.txt").write_text("")
    make_args, expected = CASES[case]
    error = one_line_error(tpudeck("train", *make_args(tmp_path, demo_corpus)))
    assert expected in error
    assert not lock_was_taken(tpudeck_home)  # found before the accelerator was taken


def truncated_weights(run):
    weights = run / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return ["--demo", "--max_steps", "2", "--model_name_or_path", str(run / "model")]


def corrupt_meta(run):
    (run / "checkpoints" / "step_4" / "meta" / "metadata").write_text('{"step": 4, "epo')
    return ["--resume", "--max_steps", "8", "--output_dir", str(run)]


def small_vocabulary(run):
    config = json.loads((run / "model" / "config.json").read_text())
    (run / "small").mkdir()
    (run / "small" / "config.json").write_text(json.dumps({**config, "vocab_size": 100}))
    return [
        "--demo",
        "--config_name",
        str(run / "small"),
        "--tokenizer_name",
        str(run / "tokenizer"),
    ]


# Damaged files and mismatched sizes that only show once a run's files are read.
RUN_CASES = {
    "truncated model.safetensors": (truncated_weights, "is damaged: model.safetensors has"),
    "corrupt checkpoint meta": (corrupt_meta, "step_4 is corrupt (JSONDecodeError"),
    "config vocabulary smaller than the tokenizer's": (
        small_vocabulary,
        "tokens but the model config (--config_name",
    ),
}


@pytest.mark.parametrize("case", RUN_CASES)
def test_damaged_files_are_found_before_the_lock(case, finished_run, tpudeck_home):
    make_args, expected = RUN_CASES[case]
    error = one_line_error(tpudeck("train", *make_args(finished_run)))
    assert expected in error
    assert not lock_was_taken(tpudeck_home)


def test_a_batch_is_checked_against_the_tpu_chips_before_the_lock(tmp_path, tpudeck_home):
    """On a v3-8 (4 chips, 8 jax devices, found in sysfs) a batch of 12 cannot split;
    that is said while the accelerator is still free, without starting jax on the TPU."""
    env = {**os.environ, "TPUDECK_SYSFS_PCI": str(fake_pci(tmp_path / "pci", V3_8)),
           "JAX_PLATFORMS": "", "XLA_FLAGS": ""}  # fmt: skip
    result = tpudeck(
        "train", "--demo", "--platform", "tpu", "--total_train_batch_size", "12", env=env
    )
    assert "does not split over 8 devices" in one_line_error(result)
    assert not lock_was_taken(tpudeck_home)


def test_a_state_too_big_for_the_chips_is_refused_before_the_lock(tmp_path, tpudeck_home):
    """GPT-2 medium's state (weights, gradients, AdamW moments) cannot sit whole on a v2
    device's 4 GiB; said before the accelerator is taken, naming fsdp, which fits it (and
    then passes this check: the run goes on to the lock and jax). XL fits neither way."""
    env = {**os.environ, "TPUDECK_SYSFS_PCI": str(fake_pci(tmp_path / "pci", V2_8)),
           "JAX_PLATFORMS": "", "XLA_FLAGS": ""}  # fmt: skip
    flags = ("train", "--demo", "--platform", "tpu", "--no-wait")
    error = one_line_error(tpudeck(*flags, "--model_size", "medium", env=env))
    assert error.endswith(
        "the training state of 304M parameters needs 4.53 GiB per device (weights, "
        "gradients, AdamW moments), more than a TPU v2 device's 4.00 GiB: --parallelism fsdp "
        "splits it over the 8 devices (1.57 GiB each)"
    )
    assert not lock_was_taken(tpudeck_home)
    sharded = one_line_error(tpudeck(*flags, "--model_size", "medium", "--parallelism", "fsdp",
                                     env=env))  # fmt: skip
    assert "training state" not in sharded and "the tpu backend" in sharded
    too_big = one_line_error(tpudeck(*flags, "--model_size", "xl", "--parallelism", "fsdp",
                                     env=env))  # fmt: skip
    assert too_big.endswith(": choose a smaller model")


def test_a_gpu_run_without_a_gpu_names_the_fix(tpudeck_home):
    """--platform gpu leaves jax to choose its GPU plugin (JAX_PLATFORMS=gpu fails where only
    cuda's is installed, as on an H200 with jax 0.11); with none, jax starts the CPU, which
    the run refuses rather than train a hundred times slower."""
    env = {**os.environ, "JAX_PLATFORMS": ""}
    result = tpudeck("train", "--demo", "--platform", "gpu", "--max_steps", "1", env=env)
    assert one_line_error(result).endswith(
        "the run asked for gpu but jax started cpu; pip install 'tpudeck[cuda]' or pass --platform cpu"
    )


def test_expected_devices_follow_the_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("TPUDECK_SYSFS_PCI", str(fake_pci(tmp_path / "pci", V3_8)))
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    monkeypatch.setenv("JAX_PLATFORMS", "")
    assert expected_devices("auto") == (8, "4 TPU v3 chips")
    assert expected_devices("cpu") == (4, "XLA_FLAGS host devices")
    assert expected_devices("gpu") == (None, "GPU")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert expected_devices("auto") == (4, "XLA_FLAGS host devices")
    monkeypatch.setenv("TPUDECK_SYSFS_PCI", str(tmp_path / "none"))
    assert expected_devices("tpu") == (None, "TPU")
