"""RunSpec validation and serialisation: errors name the field and the fix, before anything heavy."""

import subprocess
import sys

import pytest

from tpudeck.core.errors import SpecError
from tpudeck.core.spec import RunSpec


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello world\n")
    return str(path)


def test_spec_round_trips_through_its_flags(train_file, tmp_path):
    """What the app hands each worker of a run on several hosts: the same spec, parsed
    back by `tpudeck train` (switches, numbers, text, a None left out)."""
    from tpudeck.core.cli import LAUNCH_KEYS, build_parser

    spec = RunSpec.from_dict({"train_file": train_file, "learning_rate": 1e-3, "max_steps": 9,
                              "scan_layers": True, "run_name": "a b", "dropout": 0.0,
                              "output_dir": str(tmp_path / "run")})  # fmt: skip
    args = build_parser().parse_args(["train", *spec.flags()])
    assert RunSpec.from_dict({k: v for k, v in vars(args).items() if k not in LAUNCH_KEYS}) == spec
    assert "--model_size" not in spec.flags()  # the defaults stay defaults


def test_spec_round_trips_through_json(train_file, tmp_path):
    spec = RunSpec.from_dict({"train_file": train_file, "learning_rate": 1e-3, "max_steps": 9})
    (tmp_path / "spec.json").write_text(spec.to_json())
    assert RunSpec.load(tmp_path / "spec.json") == spec
    assert spec.replace(max_steps=10).max_steps == 10


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"typo_field": 1}, "unknown spec field 'typo_field'"),
        ({"model_size": "huge"}, "--model_size 'huge' is not one of"),
        ({"dtype": "fp8"}, "--dtype 'fp8' is not one of: float32, bfloat16"),
        ({"gradient_accumulation_steps": 0}, "--gradient_accumulation_steps must be at least 1"),
        ({"dropout": 1.0}, "--dropout must be in [0, 1)"),
        ({"per_device_train_batch_size": 4, "total_train_batch_size": 32}, "not both"),
        ({"total_train_batch_size": 30, "gradient_accumulation_steps": 4}, "not divisible"),
        ({"tokenizer_name": "/nonexistent"}, "no tokenizer.json (nor vocab.json"),
        ({"config_name": "/nonexistent"}, "no config.json there"),
        (
            {"recipe": "t5_mlm", "model_type": "t5", "scan_layers": True},
            "--scan_layers: t5's layers cannot run as one loop (its first layer holds",
        ),
    ],
)
def test_bad_fields_raise_one_line_spec_errors(train_file, changes, message):
    with pytest.raises(SpecError) as error:
        RunSpec.from_dict({"train_file": train_file, **changes})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_total_batch_must_split_over_devices(train_file):
    spec = RunSpec.from_dict({"train_file": train_file, "total_train_batch_size": 64})
    assert spec.per_device_batch(8) == 8
    with pytest.raises(SpecError, match="use a multiple of 24"):
        spec.replace(gradient_accumulation_steps=2).per_device_batch(12)


def test_validating_a_spec_imports_nothing_heavy(train_file):
    code = (
        "import sys; from tpudeck.core.spec import RunSpec; from tpudeck.core import cli;"
        f"RunSpec.from_dict({{'train_file': {train_file!r}}});"
        "heavy = {'jax', 'flax', 'datasets', 'transformers', 'torch'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
