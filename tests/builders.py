"""What many tests build or wait for: the real CLI in a child, hand-made and real run
directories, fake sysfs trees, and waits on screens. Test modules import from here, never
from each other."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tpudeck.core.runs.procs import start_ticks
from tpudeck.core.runs.rundir import RunDir

# -- the real command --------------------------------------------------------------------


def tpudeck(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `tpudeck` command in a child process and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "tpudeck", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def train_demo(where: Path, *flags: str) -> None:
    """A demo run trained into where/run on 8 CPU devices, its store in where/home."""
    env = {**os.environ, "TPUDECK_HOME": str(where / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "tpudeck", "train", "--demo", *flags, "--platform", "cpu",
         "--output_dir", str(where / "run")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_gcloud(where: Path) -> dict:
    """An environment whose `gcloud` is tests/fake_gcloud.py, logging its calls in
    where/gcloud.jsonl."""
    (where / "bin").mkdir(parents=True)
    gcloud = where / "bin" / "gcloud"
    gcloud.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).parent / "fake_gcloud.py"}" "$@"\n'
    )
    gcloud.chmod(0o755)
    return {**os.environ, "PATH": f"{where / 'bin'}:{os.environ['PATH']}",
            "FAKE_GCLOUD_LOG": str(where / "gcloud.jsonl")}  # fmt: skip


# Each thing's colour follows it, six ways: fill-mask can only name the right one from the
# word before the mask. A demo-size BERT learns it in a few hundred steps at 1e-3 (at the
# demo's 3e-3 its post-LN layers stay on guessing the commonest token).
THING_COLOURS = {"sky": "blue", "grass": "green", "sun": "yellow", "snow": "white",
                 "night": "black", "rose": "red"}  # fmt: skip


def train_colours(where: Path) -> None:
    """A masked LM trained by the real trainer on THING_COLOURS' pairs, into where/run."""
    import random

    corpus = where / "colours.txt"
    pairs = [f"{thing} {colour}" for thing, colour in THING_COLOURS.items()]
    corpus.write_text("\n".join(random.Random(0).choices(pairs, k=4000)) + "\n")
    train_demo(where, "--recipe", "mlm", "--train_file", str(corpus), "--max_seq_length",
               "16", "--mlm_probability", "0.3", "--learning_rate", "1e-3", "--max_steps",
               "600", "--eval_steps", "600", "--max_eval_samples", "16")  # fmt: skip


def start_tpudeck(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tpudeck", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def default_signals() -> None:
    """preexec_fn: the signal dispositions of a terminal's process. A suite started in the
    background or under nohup inherits SIGINT or SIGHUP ignored, and so would the children
    whose reaction to Ctrl-C or a dropped SSH session a test checks."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The error of a refused command: exit 2, one line naming it, last on stderr, and no
    traceback or other complaint anywhere (a foreground run's progress log may precede it)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    complaints = [line for line in lines if "error" in line.lower()]
    assert complaints == lines[-1:], result.stderr
    return lines[-1]


def as_user(user, argv: list[str], home: Path, preload: str = "", umask: int = 0o022,
            env: dict | None = None) -> tuple[int, str]:  # fmt: skip
    """Run `tpudeck argv` in a fresh interpreter that becomes `user` before acting.

    Everything is imported first (`preload` names more: a training run needs jax and
    datasets loaded), as the new user may not read the interpreter's /root tree.
    """
    code = (
        "import os, sys\n"
        "from tpudeck.core import cli, cli_runs\n"
        "from tpudeck.core.runs import store\n"
        f"{preload}\n"
        "cli.build_parser()\n"
        f"os.setgroups([{user.pw_gid}]); os.setgid({user.pw_gid}); os.setuid({user.pw_uid})\n"
        f"os.umask({umask})\n"
        f"sys.exit(cli.main({argv!r}))\n"
    )
    env = {**os.environ, "TPUDECK_HOME": str(home), **(env or {})}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return result.returncode, result.stderr


# -- run directories ---------------------------------------------------------------------


def make_run(home: Path, run_id: str, state: str, pid: int | None = None) -> RunDir:
    """A hand-made run in the store of `home`, at step 3 of 10."""
    run = RunDir(home / "runs" / run_id)
    run.create("{}")
    pid = pid or os.getpid()
    run.write_status(state, own=False, pid=pid, pid_start=start_ticks(pid), step=3, total_steps=10)
    run.emit("step", step=3, total_steps=10, loss=1.25, tokens_per_s=1000.0)
    return run


def fake_run(home, run_id: str, state: str, pid: int, steps: int = 30) -> RunDir:
    """A hand-made run at `steps` of 100 as a trainer writes it: events, eval, log."""
    run = RunDir(home / "runs" / run_id)
    run.create(json.dumps({"model_type": "gpt2"}))
    run.write_status(
        state, own=False, pid=pid, pid_start=start_ticks(pid), step=steps, total_steps=100
    )
    run.emit("compile", seconds=2.5, devices=8)
    for step in range(1, steps + 1):
        run.emit("step", step=step, total_steps=100, loss=5.0 / step, lr=1e-3, tokens_per_s=1000.0,
                 steps_per_s=2.0, eta_s=35.0, mfu=None)  # fmt: skip
    run.emit("eval", step=steps, loss=0.5, perplexity=1.65)
    run.log_path.write_text("".join(f"step {s} loss {5.0 / s:.4f}\n" for s in range(1, steps + 1)))
    return run


def tree_digest(path: Path) -> dict[str, str]:
    """Every file and folder under `path` with the SHA-256 of its bytes (or its link target)."""
    digest = {}
    for entry in sorted(path.rglob("*")):
        name = str(entry.relative_to(path))
        if entry.is_symlink():
            digest[name] = "-> " + os.readlink(entry)
        elif entry.is_file():
            digest[name] = hashlib.sha256(entry.read_bytes()).hexdigest()
        else:
            digest[name] = "dir"
    return digest


def lock_was_taken(home: Path) -> bool:
    """True if any process ever took the accelerator lock of `home` (its audit trail says)."""
    trail = home / "locks" / "holders.jsonl"
    if not trail.exists():
        return False
    return any(json.loads(line)["event"] == "acquired" for line in trail.read_text().splitlines())


# -- data ----------------------------------------------------------------------------------

COLOURS = {"blue": 2, "green": 1, "red": 0}  # class -> the channel its images are bright in


def make_image_folder(root, per_class: int = 24, seed: int = 0):
    """Noisy 20x20 images whose class is their brightest colour channel."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, channel in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (20, 20, 3))
            pixels[..., channel] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    (root / "README.txt").write_text("not an image, not a class")
    return root


# -- fakes of the OS level ---------------------------------------------------------------


def fake_pci(root, devices: dict[str, tuple[str, str, str]]):
    """sysfs /sys/bus/pci/devices: name -> (vendor, device, subsystem_device)."""
    for name, (vendor, device, subsystem) in devices.items():
        path = root / name
        path.mkdir(parents=True)
        (path / "vendor").write_text(vendor + "\n")
        (path / "device").write_text(device + "\n")
        (path / "subsystem_device").write_text(subsystem + "\n")
    return root


V3_8 = {f"0000:00:0{i}.0": ("0x1ae0", "0x0027", "0x004f") for i in range(4)}
V2_8 = {f"0000:00:0{i}.0": ("0x1ae0", "0x0027", "0x004e") for i in range(4)}


# -- waiting -----------------------------------------------------------------------------


async def wait_for(pilot, predicate, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.2)
    raise AssertionError(f"not seen on screen within {timeout} s")


async def judged(pilot) -> None:
    """Wait until the Launch form's latest edit is validated (that runs on a worker)."""
    await pilot.pause()
    validating = [w for w in pilot.app.workers if w.group == "validate"]
    if validating:  # an empty list would wait for every worker: the store's reader never ends
        await pilot.app.workers.wait_for_complete(validating)
    await pilot.pause()


def text_of(app, selector: str) -> str:
    """What a widget shows now; empty while its screen is still being composed."""
    found = app.screen.query(selector)
    return str(found.first().render()) if found else ""


async def open_try(pilot, app, task: str):
    """The Try screen of the Runs screen's one run, once its model does `task` and the
    input is open (after the model's settings are on the screen)."""
    from textual.widgets import DataTable, Input

    from tpudeck.tui.screens.try_model import TryScreen

    await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 1, 10)
    await pilot.press("t")  # on the Runs screen's selected run
    await wait_for(pilot, lambda: isinstance(app.screen, TryScreen), 10)
    await wait_for(pilot, lambda: task in text_of(app, "#try-status"), 120)
    await wait_for(pilot, lambda: not app.screen.query_one("#try-input", Input).disabled, 10)
    return app.screen


# -- checkpoints in the Hub's other layouts ----------------------------------------------


def flax_msgpack(safetensors: Path) -> bytes:
    """The weights of a transformers checkpoint as its Flax twin saved them (flax_model.msgpack,
    the same names nested), by transformers' PyTorch-to-Flax rules: a Linear's "kernel" is its
    weight transposed, a Conv's is (H, W, in, out), LayerNorm's weight (the only 1-D weights
    of GPT-2, BERT and ViT) is "scale", an embedding's weight is "embedding"."""
    from flax.serialization import msgpack_serialize
    from flax.traverse_util import unflatten_dict
    from safetensors.numpy import load_file

    tree = {}
    for name, array in load_file(safetensors).items():
        *module, leaf = name.split(".")
        if leaf == "weight" and array.ndim == 1:
            leaf = "scale"
        elif leaf == "weight" and ("embed" in module[-1] or module[-1] in ("wte", "wpe")):
            leaf = "embedding"
        elif leaf == "weight":
            leaf, array = "kernel", array.transpose(2, 3, 1, 0) if array.ndim == 4 else array.T
        tree[(*module, leaf)] = array
    return msgpack_serialize(unflatten_dict(tree))


def hub_repo_files(model, layout: str, folder: Path) -> dict[str, bytes]:
    """The files of a Hub model repo holding `model` in one weights layout: "safetensors",
    "sharded" (several safetensors files and their index), "flax" (flax_model.msgpack
    only) or "torch" (pytorch_model.bin only); config.json and whatever `folder` holds
    (a tokenizer) beside them."""
    import torch
    from safetensors.numpy import load_file

    saved = folder / f".{layout}"
    model.save_pretrained(saved, max_shard_size="40KB" if layout == "sharded" else "5GB")
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    files["config.json"] = (saved / "config.json").read_bytes()
    if layout in ("safetensors", "sharded"):
        files.update({p.name: p.read_bytes() for p in saved.glob("model*.safetensors*")})
    elif layout == "flax":
        files["flax_model.msgpack"] = flax_msgpack(saved / "model.safetensors")
    else:  # as transformers 4 saved it: the checkpoint's names, not the live modules'
        tensors = load_file(saved / "model.safetensors")
        torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, saved / "torch.bin")
        files["pytorch_model.bin"] = (saved / "torch.bin").read_bytes()
    return files


def parquet_bytes(columns: dict[str, list]) -> bytes:
    """A parquet file of these columns, as the Hub's dataset repos hold them."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


# -- checkpoints as tpudeck saved them before Orbax --------------------------------------


def legacy_checkpoint(directory: Path, step: int, state_dict: dict, meta: dict) -> Path:
    """checkpoints/step-N/{state.msgpack, meta.json} as tpudeck wrote them before Orbax:
    flax's state dict (sequences as {"0": ..., "1": ...}, empty states as {}) and the blob's
    size and SHA-256."""
    from flax.serialization import msgpack_serialize

    def flax_names(tree):
        if tree is None:  # what Orbax gives back for an empty optax state
            return {}
        if isinstance(tree, dict):
            return {k: flax_names(v) for k, v in tree.items()}
        if isinstance(tree, list | tuple):
            return {str(i): flax_names(v) for i, v in enumerate(tree)}
        return tree

    blob = msgpack_serialize(flax_names(state_dict))
    path = directory / f"step-{step}"
    path.mkdir(parents=True)
    (path / "state.msgpack").write_bytes(blob)
    checks = {"state_bytes": len(blob), "state_sha256": hashlib.sha256(blob).hexdigest()}
    (path / "meta.json").write_text(json.dumps({"step": step, **meta, **checks}))
    return path


def flip_a_byte(where: Path) -> Path:
    """Damage a file (or the largest file of a folder) in its middle: same size, other bytes."""
    files = [where] if where.is_file() else [p for p in where.rglob("*") if p.is_file()]
    largest = max(files, key=lambda p: p.stat().st_size)
    blob = bytearray(largest.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    largest.write_bytes(bytes(blob))
    return largest
