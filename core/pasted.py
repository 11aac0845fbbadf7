"""An HF Flax script's command line, pasted, as the `tpudeck train` run it describes:
`python run_mlm_flax.py --output_dir out ...` (or the script path alone, or a shell line
with backslash continuations) picks the recipe from the script's name and keeps its flags,
which `tpudeck train` takes as the script does (script_flags.py)."""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

from .errors import TpudeckError
from .registry import RECIPES
from .script_flags import SCRIPTS


def split_line(text: str) -> list[str]:
    """A pasted shell line as words (continuation backslashes and quotes as a shell reads them)."""
    try:
        return shlex.split(text.replace("\\\n", " "))
    except ValueError as exc:
        raise TpudeckError(f"the pasted line does not parse ({exc}); check its quotes") from None


def train_arguments(words: list[str]) -> list[str]:
    """The `tpudeck train` arguments of an HF script's command line (as words)."""
    script = next((w for w in words if w.endswith(".py")), None)
    if script is None:
        raise TpudeckError(
            "no script in the pasted line: paste `python run_mlm_flax.py --flag ...`"
        )
    name = Path(script).name
    recipe = next((r.name for r in RECIPES.values() if r.script == name), None)
    if recipe is None:
        raise TpudeckError(
            f"{name} is not one of the HF Flax scripts ({', '.join(SCRIPTS)}): run it with "
            f"`tpudeck run -- python {script} ...`"
        )
    return ["--recipe", recipe, *words[words.index(script) + 1 :]]


def spec_values(words: list[str]) -> tuple[dict, list[str]]:
    """(the spec values, the notes on flags tpudeck takes otherwise) of a pasted line: what
    the Launch screen fills its form with. Raises TpudeckError for a line argparse refuses
    (a flag none of the scripts has, a value of the wrong type)."""
    from .cli import LAUNCH_KEYS, build_parser
    from .script_flags import take_script_flags

    refused = io.StringIO()
    try:
        with contextlib.redirect_stderr(refused):  # argparse's one line becomes the error
            args = build_parser().parse_args(["train", *train_arguments(words)])
    except SystemExit:
        message = refused.getvalue().strip().removeprefix("tpudeck train: error: ")
        raise TpudeckError(message) from None
    given = {k: v for k, v in vars(args).items() if k not in LAUNCH_KEYS}
    given, notes, _token = take_script_flags(given)  # a token stays out of the form
    return given, notes
