"""A user's own script as a run: `tpudeck run -- python run_mlm_flax.py --flags...`.

The script is copied into the run directory at launch (edits made while it waits in the
queue must not change what runs); script_supervisor.py runs it under the guard. This side
is light: the app creates script runs from its Launch screen.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..errors import TpudeckError
from .rundir import RunDir, new_run_id, run_store_dir


def _script_index(command: list[str]) -> int | None:
    """Where in `command` the file it runs is: `python X.py ...` -> 1, `./train.sh` -> 0."""
    if Path(command[0]).name.startswith("python"):
        return 1 if len(command) > 1 and not command[1].startswith("-") else None
    return 0 if os.sep in command[0] else None


def _flag_value(command: list[str], flag: str) -> str | None:
    for i, arg in enumerate(command):
        if arg == flag and i + 1 < len(command):
            return command[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def create_script_run(command: list[str], name: str | None = None) -> RunDir:
    """Check the command, copy its script into a new run directory and write spec.json."""
    if not command:
        raise TpudeckError("no command given: tpudeck run -- python your_script.py --flags")
    index = _script_index(command)
    script = Path(command[index]) if index is not None else None
    if script is not None and not script.is_file():
        raise TpudeckError(f"script {script} not found: check the path (relative to {os.getcwd()})")
    if script is None and shutil.which(command[0]) is None:
        raise TpudeckError(f"command {command[0]!r} not found on PATH: check its name")
    run_dir = RunDir(run_store_dir() / new_run_id(name or (script.stem if script else command[0])))
    run_dir.path.mkdir(parents=True)
    runnable = list(command)
    if script is not None:
        (run_dir.path / "script").mkdir()
        copy = run_dir.path / "script" / script.name
        shutil.copy2(script, copy)
        runnable[index] = str(copy)
    output_dir = _flag_value(command, "--output_dir")
    spec = {
        "kind": "script",
        "command": runnable,
        "original_command": command,
        "cwd": os.getcwd(),
        "script_dir": str(script.resolve().parent) if script else None,
        "tensorboard_dir": str(Path(output_dir).resolve()) if output_dir else None,
        "run_name": name,
    }
    run_dir.create(json.dumps(spec, indent=2))
    return run_dir
