"""Launch: pick model, data and recipe, set hyper-parameters with inline validation, launch.

Validation is RunSpec's own, the same the CLI runs, so the form and `tpudeck train` agree.
"""

from __future__ import annotations

import dataclasses

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from tpudeck.core.errors import TpudeckError
from tpudeck.core.models.gpt2_config import GPT2Config
from tpudeck.core.registry import MODEL_SIZES, RECIPES
from tpudeck.core.spec import RunSpec, parse_field

from ..data_preview import preview

CHOICES = {
    "recipe": tuple(RECIPES),
    "model_type": tuple(MODEL_SIZES),
    "model_size": tuple(MODEL_SIZES["gpt2"]),
    "dtype": ("float32", "bfloat16"),
    "lr_schedule": ("linear", "cosine", "constant"),
}
TEXT_FIELDS = (
    "train_file", "validation_file", "tokenizer_name", "vocab_size", "block_size",
    "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate", "warmup_steps",
    "max_steps", "num_train_epochs", "logging_steps", "eval_steps", "save_steps", "dropout",
    "seed", "output_dir", "run_name",
)  # fmt: skip
DEFAULTS = RunSpec()


class LaunchScreen(Screen):
    BINDINGS = [Binding("ctrl+l", "launch", "Launch"), Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, values: dict | None = None):
        super().__init__()
        self.initial = values or {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="error")  # status first: visible on any terminal, whatever scrolls
        yield Static(id="summary")
        with VerticalScroll(id="launch"):
            with Grid(id="choices"):
                for name, options in CHOICES.items():
                    yield Label(name)
                    value = self.initial.get(name, getattr(DEFAULTS, name))
                    yield Select(
                        [(o, o) for o in options],
                        value=value,
                        allow_blank=False,
                        id=name,
                        compact=True,
                    )
            with Grid(id="fields"):
                for name in TEXT_FIELDS:
                    yield Label(name)
                    value = self.initial.get(name)
                    placeholder = (
                        "" if getattr(DEFAULTS, name) is None else str(getattr(DEFAULTS, name))
                    )
                    yield Input(
                        value="" if value is None else str(value), placeholder=placeholder, id=name
                    )
            yield Static(id="error")
            yield Static(id="summary")
            yield Static(id="preview")
            with Horizontal(id="actions"):
                yield Button("Launch (ctrl+l)", id="launch-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "launch a run"
        self.validate_form()

    def values(self) -> dict:
        """The form as spec values; blank inputs take the defaults."""
        values = {name: self.query_one(f"#{name}", Select).value for name in CHOICES}
        for name in TEXT_FIELDS:
            text = self.query_one(f"#{name}", Input).value.strip()
            if text:
                values[name] = parse_field(name, text)
        return values

    @on(Input.Changed)
    @on(Select.Changed)
    def validate_form(self) -> RunSpec | None:
        """Validate as the user types: the first problem shows under the form, in one line."""
        error, summary = self.query_one("#error", Static), self.query_one("#summary", Static)
        try:
            spec = RunSpec.from_dict(self.values())
        except TpudeckError as exc:
            error.update(f"[b]✗[/b] {exc}")
            error.add_class("invalid")
            self.query_one("#launch-button", Button).disabled = True
            return None
        error.update("✓ ready to launch")
        error.remove_class("invalid")
        self.query_one("#launch-button", Button).disabled = False
        summary.update(describe(spec))
        self._show_preview(spec.train_file)
        return spec

    def _show_preview(self, path: str) -> None:
        try:
            columns, rows = preview(path)
        except (OSError, ValueError) as exc:
            self.query_one("#preview", Static).update(f"cannot preview {path}: {exc}")
            return
        self.query_one("#preview", Static).update(
            f"[b]{path}[/b]  columns: {', '.join(columns)}\n" + "\n".join(rows)
        )

    @on(Button.Pressed, "#launch-button")
    def action_launch(self) -> None:
        spec = self.validate_form()
        if spec is None:
            self.notify("fix the highlighted problem first", severity="error")
            return
        defaults = dataclasses.asdict(DEFAULTS)
        flags = []
        for name, value in spec.to_dict().items():
            if value is not None and value != defaults[name]:
                flags += [f"--{name}", str(value)]
        self.app.launch(flags)


def describe(spec: RunSpec) -> str:
    """What will run and roughly what it costs, before anything is launched."""
    config = spec.model_config()
    gpt2 = GPT2Config.from_hf({"vocab_size": config.get("vocab_size", spec.vocab_size), **config})
    params = gpt2.param_count()
    per_device = spec.per_device_train_batch_size or 8
    block = spec.resolved_block_size()
    state_gb = params * 16 / 1e9  # fp32 weights, gradients and two AdamW moments
    steps = f"{spec.max_steps} steps" if spec.max_steps else f"{spec.num_train_epochs:g} epochs"
    return (
        f"[b]{spec.recipe}[/b] {spec.model_type}-{spec.model_size}: {params / 1e6:,.1f}M parameters, "
        f"~{state_gb:.2f} GB of weights and optimizer state per device\n"
        f"batch {per_device} per device x {spec.gradient_accumulation_steps} accumulation x devices, "
        f"{block} tokens each; {steps}; {spec.dtype}; lr {spec.learning_rate:g} ({spec.lr_schedule})"
    )
