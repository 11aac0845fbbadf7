"""Who may import what: the engine never reaches the UI, and validating a spec or listing
the registry loads no ML library (the Launch form does both on every keystroke). The UI's
own contract (no ML library, no trainer, in a whole session) is in test_tui.py."""

import pkgutil
import subprocess
import sys

import tpudeck.core

HEAVY = ("jax", "flax", "optax", "transformers", "datasets", "torch", "tokenizers", "numpy")


def fresh_modules(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `code`."""
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(done.stdout.split())


def test_no_engine_module_imports_textual():
    names = [m.name for m in pkgutil.walk_packages(tpudeck.core.__path__, "tpudeck.core.")]
    loaded = fresh_modules("\n".join(f"import {name}" for name in names))
    assert len(names) > 40 and not {m for m in loaded if m.split(".")[0] == "textual"}


def test_the_registry_and_spec_validation_load_no_ml_library(demo_corpus):
    loaded = fresh_modules(
        "from tpudeck.core.registry import FAMILIES, RECIPES\n"
        "from tpudeck.core.spec import RunSpec\n"
        f"RunSpec.from_dict({{'train_file': {str(demo_corpus)!r}}}).family_config().param_count()"
    )
    assert {m.split(".")[0] for m in loaded} & set(HEAVY) == set()


def test_a_trainers_tensorboard_loads_no_torch_and_torch_still_loads_after(tmp_path):
    """tensorboardX's writer imports torch where it is installed; a trainer hands it floats
    and never needs torch (the demo's peak memory 697 -> 516 MB, 1.9 s less to run)."""
    code = (
        "import pathlib, sys\n"
        "from tpudeck.core.train.tensorboard import TensorBoardSink\n"
        "from tpudeck.core.runs.tensorboard_tail import event_pb2\n"
        f"sink = TensorBoardSink(pathlib.Path({str(tmp_path)!r}))\n"
        "sink.scalars('train', 1, {'loss': 1.5})\n"
        "sink.close()\n"
        "print('torch' in sys.modules)\n"
        "import torch\n"  # hidden only while tensorboardX first loads
        "print(float(torch.ones(1)[0]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "1.0"], done.stderr
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
