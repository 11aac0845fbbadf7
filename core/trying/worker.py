"""A model kept warm in its own process while the app's Try screen is open, so the app
itself never imports an ML library. It speaks JSON lines over a pipe:

    app -> worker   {"open": FOLDER} or {"open": {"run": RUN_DIR, "step": N}} (a checkpoint,
                    exported on first use), then {"try": {"text": ..., settings}}
    worker -> app   {"ready": {"task", "device", "note", "settings"}} or {"error": why}
                    (settings: the generation settings a request may give, with their
                    defaults; {} for a task that does not generate)
                    {"piece": text so far} ... then {"result": ...} or {"error": why}

It runs on the accelerator only when the run lock is free, holding it until it exits
(end of input: the screen closed), else on the CPU (placement.py).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from ..errors import TpudeckError
from ..runs.home import tpudeck_home
from .placement import place
from .tasks import GENERATING


class TryWorker:
    """The app's side: starts the worker, sends it requests, reads its messages."""

    def __init__(self, folder: str | Path, step: int | None = None):
        """The model in `folder`, or (with `step`) the checkpoint of the run in `folder`."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tpudeck.core.trying.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1,
        )  # fmt: skip
        opened = str(folder) if step is None else {"run": str(folder), "step": step}
        self.send({"open": opened})

    def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            return {"error": "the model's process ended"}
        return json.loads(line)

    def close(self) -> None:
        """End of input: the worker exits, releasing the accelerator if it held it."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


def serve(requests, replies) -> None:
    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    try:
        folder = _request(requests.readline(), "open")
    except TpudeckError as exc:
        reply({"error": str(exc)})
        return
    lock, note = place(tpudeck_home())  # before jax is imported: it may pick the CPU
    try:
        from .model import Generation, TriedModel

        try:
            model = TriedModel(_model_folder(folder))
        except TpudeckError as exc:
            reply({"error": str(exc)})
            return
        import jax

        settings = {}
        if model.task in GENERATING:
            # Compile the default search for short prompts now, not at the first Enter.
            model.generate("Hello", Generation())
            settings = dataclasses.asdict(Generation())
        device = jax.devices()[0].platform
        reply({"ready": {"task": model.task, "device": device, "note": note, "settings": settings}})
        for line in requests:  # a bad request is answered with why, and the next one served
            try:
                reply({"result": _answer(model, _request(line, "try"), Generation, reply)})
            except TpudeckError as exc:
                reply({"error": str(exc)})
    finally:
        if lock is not None:
            lock.release()


def _model_folder(opened) -> Path:
    """The folder an open request names: a model folder, or a run's checkpoint exported."""
    if not isinstance(opened, dict):
        return Path(opened)
    from ..runs.rundir import RunDir
    from .checkpoints import checkpoint_model

    try:
        return checkpoint_model(RunDir(opened["run"]), int(opened["step"]))
    except (KeyError, TypeError, ValueError):
        raise TpudeckError(f"not a checkpoint to open: {opened!r} (run and step)") from None


def _request(line: str, key: str):
    """What a request line asks under `key`; anything else is a one-line error."""
    try:
        return json.loads(line)[key]
    except (ValueError, KeyError, TypeError):
        raise TpudeckError(
            f"not a request: {line.strip()[:80]!r} (one JSON object with {key!r} per line)"
        ) from None


def _answer(model, asked: dict, generation, reply):
    if not isinstance(asked, dict):
        raise TpudeckError(f"a try request is an object with text and settings, not {asked!r}")
    text = asked.get("text", "")
    if model.task in GENERATING:
        try:
            settings = generation(**{k: v for k, v in asked.items() if k != "text"})
        except TypeError as exc:  # a setting Generation does not have
            raise TpudeckError(f"unknown generation setting: {exc}") from None
        return model.generate(text, settings, lambda piece: reply({"piece": piece}))
    if model.task == "fill-mask":
        return model.fill_mask(text)
    if model.task == "image-classification":
        return model.classify_image(text)
    return model.classify(text)


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
