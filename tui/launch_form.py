"""The Launch form's model: its fields (RunSpec's form fields), what it holds, and the
judgement of it, RunSpec's own validation (the CLI's) with the estimate and a data preview.
Touches files only: judged on a worker thread as the user types."""

from __future__ import annotations

import dataclasses
import shlex

from textual.markup import escape

from tpudeck.core.errors import TpudeckError
from tpudeck.core.hub.repo_ids import hub_id
from tpudeck.core.pod.hosts import parse_hosts
from tpudeck.core.registry import FAMILIES, RECIPES
from tpudeck.core.spec import RunSpec, field_type, parse_field

from .data_preview import preview
from .estimate import describe

SCRIPT = "script"  # a user's own script instead of a built-in recipe
FORM = [f for f in dataclasses.fields(RunSpec) if f.metadata["form"]]


def _options(field) -> tuple | None:
    """The values a Select offers for a form field, or None for a text input."""
    if field.name == "recipe":
        return (*RECIPES, SCRIPT)
    if field.name == "model_size":  # each family's own; the form keeps the pick valid
        return tuple(dict.fromkeys(size for f in FAMILIES.values() for size in f.sizes))
    if field.metadata["choices"]:
        return field.metadata["choices"]
    return (False, True) if field_type(field.name) is bool else None


CHOICES = {f.name: options for f in FORM if (options := _options(f))}
TEXT_FIELDS = tuple(f.name for f in FORM if f.name not in CHOICES)
# Shown only for the recipes whose data they name.
DATA_DEPENDENT = {name for recipe in RECIPES.values() for name in recipe.data_fields}
DEFAULTS = RunSpec()


@dataclasses.dataclass(frozen=True)
class Form:
    choices: dict  # select id -> value
    texts: dict  # input id -> text as typed
    hidden: dict  # settings without a field, riding along
    script: str  # the script command, for recipe "script"
    hosts: str = ""  # --hosts: several hosts, one trainer each; blank: this machine

    def values(self) -> dict:
        """Spec values; blank inputs take the defaults, and the data fields of recipes not
        picked (hidden) are left out. SpecError names a bad field."""
        recipe = RECIPES.get(self.choices["recipe"])
        hidden = DATA_DEPENDENT - set(recipe.data_fields if recipe else ())
        values = {**self.hidden, **{k: v for k, v in self.choices.items() if k not in hidden}}
        for name, text in self.texts.items():
            if text.strip() and name not in hidden:
                values[name] = parse_field(name, text.strip())
        return values

    def script_command(self) -> list[str] | None:
        """The user's script command when the recipe is "script"; else None."""
        if self.choices["recipe"] != SCRIPT:
            return None
        try:
            command = shlex.split(self.script)
        except ValueError as exc:
            raise TpudeckError(f"script command: {exc}; fix the quoting") from None
        if not command:
            raise TpudeckError(
                "type the script command, e.g. python run_mlm_flax.py --output_dir out"
            )
        return command


@dataclasses.dataclass(frozen=True)
class Verdict:
    ready: RunSpec | list[str] | None  # what would launch: a spec, a script command, or None
    error: str = ""  # markup: the first problem, or "" when ready
    summary: str = ""
    preview: str = ""
    hosts: str = ""  # --hosts of a run on several hosts


def judge(form: Form, devices: tuple[int, str]) -> Verdict:
    """RunSpec's own validation (the CLI's), the estimate and the data preview of a form.
    Touches files only: safe on a worker thread."""
    try:
        command = form.script_command()
        spec = None if command else RunSpec.from_dict(form.values())
    except TpudeckError as exc:
        return Verdict(None, error=f"[b]✗[/b] {escape(str(exc))}")
    if command:
        return Verdict(
            command,
            summary=f"runs [b]{escape(shlex.join(command))}[/b] under the accelerator lock, "
            "copied into its run directory; its TensorBoard scalars under --output_dir become "
            "the run's curves",
        )
    hosts = form.hosts.strip()
    if hosts:  # checked before the estimate and the preview, which read files
        try:
            parse_hosts(hosts)
        except TpudeckError as exc:
            return Verdict(None, error=f"[b]✗[/b] hosts: {escape(str(exc))}")
        if spec.output_dir is None:
            return Verdict(None, error="[b]✗[/b] hosts: set output_dir, the one path every "
                           "worker trains into (storage they all see)")  # fmt: skip
    summary, preview = describe(spec, *devices), _preview(spec.training_data)
    if not hosts:
        return Verdict(spec, summary=summary, preview=preview)
    where = (f"on [b]{escape(hosts)}[/b], one trainer per worker, detached (the run outlives "
             f"this session), into {escape(spec.output_dir)}: ")  # fmt: skip
    return Verdict(spec, summary=where + summary, preview=preview, hosts=hosts)


def _preview(path: str) -> str:
    if hub_id(path):
        return f"[b]{escape(path)}[/b]  a Hub dataset: downloaded when the run prepares"
    try:
        heading, rows = preview(path)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        return escape(f"cannot preview {path}: {exc}")
    return f"[b]{escape(path)}[/b]  {escape(heading)}\n" + escape("\n".join(rows))


def label(option) -> str:
    if isinstance(option, bool):
        return "yes" if option else "no"
    return option
