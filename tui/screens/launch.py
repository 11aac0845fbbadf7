"""Launch: pick model, data and recipe, set hyper-parameters with inline validation, launch.

Validation is RunSpec's own, the same the CLI runs, so the form and `tpudeck train` agree.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static
from textual.worker import get_current_worker

from tpudeck.core.demo import demo_settings
from tpudeck.core.devices.expected import expected_devices
from tpudeck.core.errors import TpudeckError
from tpudeck.core.pasted import spec_values, split_line
from tpudeck.core.pod.detached import start_spec_on_hosts
from tpudeck.core.registry import FAMILIES, RECIPES, families_for
from tpudeck.core.runs.launch import start_script, start_training

from ..launch_form import (
    CHOICES,
    DATA_DEPENDENT,
    DEFAULTS,
    SCRIPT,
    TEXT_FIELDS,
    Form,
    Verdict,
    judge,
    label,
)
from .picker import TARGETS, PathPicker, start_folder

# The form's one-line inputs beside RunSpec's fields: (row id, label, input id, placeholder)
LINES = (
    ("paste", "paste an HF command", "pasted",
     "python run_mlm_flax.py --model_type roberta ...  (enter fills the form)"),
    ("script", "script command", "script_command",
     "python run_mlm_flax.py --output_dir out ...  (recipe: script)"),
    ("hosts-row", "hosts", "hosts", "this machine  (or local:N, gcloud:TPU_NAME[:ZONE], ray:N: "
     "one trainer per worker, into output_dir)"),
)  # fmt: skip


class LaunchScreen(Screen):
    CSS_PATH = "launch.tcss"  # loaded when the screen is first opened
    AUTO_FOCUS = "#recipe"  # the first choice, the one the rest of the form follows
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch"),
        Binding("ctrl+k", "train_tokenizer", "Train tokenizer"),
        Binding("ctrl+o", "pick_path", "Pick path"),
        Binding("ctrl+d", "demo", "Demo data"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, values: dict | None = None):
        super().__init__()
        self.initial = values or {}
        # Settings the form has no field for (a relaunched run's adam_beta2, say) ride along.
        self.hidden = {k: v for k, v in self.initial.items() if k not in (*CHOICES, *TEXT_FIELDS)}
        count, where = expected_devices()
        self.devices = (count or 1, where)
        self.offered: dict[str, tuple] = {}  # a Select's options, where they are not CHOICES'

    # a GPU count is jax's to tell: size for one

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="error")  # status first: visible on any terminal, whatever scrolls
        yield Static(id="summary")
        with VerticalScroll(id="launch"):
            with Grid(id="choices"):
                for name, options in CHOICES.items():
                    yield Label(name, classes=f"for-{name}")
                    value = self.initial.get(name, getattr(DEFAULTS, name))
                    yield Select(
                        [(label(o), o) for o in options],
                        value=value,
                        allow_blank=False,
                        id=name,
                        classes=f"for-{name}",
                        compact=True,
                    )
            for grid, name, input_id, placeholder in LINES:
                with Grid(id=grid):
                    yield Label(name)
                    yield Input(placeholder=placeholder, id=input_id)
            with Grid(id="fields"):
                for name in TEXT_FIELDS:
                    yield Label(name, classes=f"for-{name}")
                    value = self.initial.get(name)
                    placeholder = (
                        "" if getattr(DEFAULTS, name) is None else str(getattr(DEFAULTS, name))
                    )
                    yield Input(
                        value="" if value is None else str(value),
                        placeholder=placeholder,
                        id=name,
                        classes=f"for-{name}",
                    )
            yield Static(id="error")
            yield Static(id="summary")
            yield Static(id="preview")
            with Horizontal(id="actions"):
                yield Button("Launch (ctrl+l)", id="launch-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "launch a run"
        self.show_data_fields()
        self.validate_form()

    @on(Select.Changed, "#recipe")
    def show_data_fields(self) -> None:
        """Only the fields of the recipe picked, as its descriptor names them: a text file
        and its column for language models, folders for images, ...; the script command
        for a script. Hidden fields take no Tab stop."""
        recipe = self.query_one("#recipe", Select).value
        shown = set(RECIPES[recipe].data_fields) if recipe in RECIPES else set()
        for name in DATA_DEPENDENT:
            for widget in self.query(f".for-{name}"):
                widget.display = name in shown
        self.query_one("#script").display = recipe == SCRIPT
        self.query_one("#hosts-row").display = recipe != SCRIPT
        self.refresh_bindings()  # ctrl+k is for recipes that read text

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "train_tokenizer":
            recipe = RECIPES.get(self.query_one("#recipe", Select).value)
            return recipe is not None and recipe.inputs == "text"
        return True

    def form(self) -> Form:
        """What the form holds now, read on the UI thread; judged anywhere."""
        return Form(
            choices={name: self.query_one(f"#{name}", Select).value for name in CHOICES},
            texts={name: self.query_one(f"#{name}", Input).value for name in TEXT_FIELDS},
            hidden=dict(self.hidden),
            script=self.query_one("#script_command", Input).value,
            hosts=self.query_one("#hosts", Input).value,
        )

    @on(Select.Changed, "#recipe")
    @on(Select.Changed, "#model_type")
    def fit_model_to_recipe(self) -> None:
        """A recipe offers only the families it trains, and a family only its sizes: the
        choices follow instead of leaving an error to fix by hand."""
        recipe = self.query_one("#recipe", Select).value
        model_type, model_size = (
            self.query_one(f"#{n}", Select) for n in ("model_type", "model_size")
        )
        self._offer(model_type, families_for(recipe) if recipe in RECIPES else tuple(FAMILIES))
        self._offer(model_size, tuple(FAMILIES[model_type.value].sizes) or CHOICES["model_size"])

    def _offer(self, select: Select, options: tuple) -> None:
        """Offer `options`, keeping the pick when it is one of them (else the first)."""
        if self.offered.get(select.id, CHOICES[select.id]) == options:
            return
        self.offered[select.id] = options
        picked = select.value
        select.set_options([(label(o), o) for o in options])
        select.value = picked if picked in options else options[0]

    @on(Input.Changed)
    @on(Select.Changed)
    def validate_form(self) -> None:
        """Validate as the user types, off the UI thread: the checks read files and
        folders (a slow disk, an image folder of thousands) and keys must not wait. The
        newest edit wins; an older judgement still running is dropped."""
        self.judge_in_background(self.form())

    @work(thread=True, exclusive=True, group="validate")
    def judge_in_background(self, form: Form) -> None:
        verdict = judge(form, self.devices)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show, verdict)

    def show(self, verdict: Verdict) -> None:
        """The first problem on top, in one line; else what will run and a data preview."""
        error = self.query_one("#error", Static)
        error.update(verdict.error or "✓ ready to launch")
        error.set_class(bool(verdict.error), "invalid")
        self.query_one("#launch-button", Button).disabled = bool(verdict.error)
        self.query_one("#summary", Static).update(verdict.summary)
        self.query_one("#preview", Static).update(verdict.preview)

    @on(Button.Pressed, "#launch-button")
    def action_launch(self) -> None:
        verdict = judge(self.form(), self.devices)  # this form, not the last one judged
        self.show(verdict)
        if verdict.ready is None:
            self.notify("fix the highlighted problem first", severity="error")
        elif isinstance(verdict.ready, list):
            self.app.launch(partial(start_script, verdict.ready))
        elif verdict.hosts:
            self.app.launch(partial(start_spec_on_hosts, verdict.ready, verdict.hosts))
        else:
            self.app.launch(partial(start_training, verdict.ready))

    def action_demo(self) -> None:
        """Fill the form with the picked recipe's demo: a family it trains at its demo
        size, on data generated offline (written once under $TPUDECK_HOME/demo)."""
        recipe = self.query_one("#recipe", Select).value
        if recipe not in RECIPES:
            self.notify("pick a recipe first: the demo is a recipe's", severity="error")
            return
        self.fill(demo_settings(recipe))
        self.notify(f"the {recipe} demo: ctrl+l launches it")

    @on(Input.Submitted, "#pasted")
    def fill_from_pasted(self, event: Input.Submitted) -> None:
        """An HF script's command line fills the form as `tpudeck train -- ...` reads it."""
        try:
            values, notes = spec_values(split_line(event.value))
        except TpudeckError as exc:
            self.notify(str(exc), severity="error")
            return
        self.fill(values)
        self.notify("\n".join(["filled from the pasted command", *notes]))

    def fill(self, values: dict) -> None:
        for name in ("recipe", "model_type", "model_size"):  # each offers the next's options
            if name in values:
                self._pick(name, values[name])
                self.fit_model_to_recipe()
        for name, value in values.items():
            if name in ("recipe", "model_type", "model_size"):
                continue
            if name in CHOICES:
                self._pick(name, value)
            elif name in TEXT_FIELDS:
                self.query_one(f"#{name}", Input).value = str(value)
            else:
                self.hidden[name] = value

    def _pick(self, name: str, value) -> None:
        offered = self.offered.get(name, CHOICES[name])
        if value in offered:
            self.query_one(f"#{name}", Select).value = value
        else:
            self.notify(f"{name} {value} is not offered here: pick one of "
                        f"{', '.join(map(str, offered))}", severity="error")  # fmt: skip

    def action_pick_path(self) -> None:
        """Browse for the focused path field (data, checkpoint, config, tokenizer);
        from any other field, for train_file."""
        focused = self.focused.id if self.focused else None
        name = focused if focused in TARGETS else "train_file"

        def use(path: str | None) -> None:
            if path:
                self.query_one(f"#{name}", Input).value = path

        typed = self.query_one(f"#{name}", Input).value
        demo_data = self.app.store.home / "demo"
        self.app.push_screen(PathPicker(name, start_folder(typed, Path.cwd()), demo_data), use)

    def action_train_tokenizer(self) -> None:
        """Train a BPE tokenizer on the train file now, then use it for this run."""
        train_file = self.query_one("#train_file", Input).value.strip()
        vocab = self.query_one("#vocab_size", Input).value.strip() or str(DEFAULTS.vocab_size)
        if not train_file:
            self.notify("fill train_file first", severity="error")
            return
        out = self.app.store.home / "tokenizers" / f"{Path(train_file).stem}-bpe-{vocab}"
        column = self.query_one("#text_column", Input).value.strip() or "text"
        self.train_tokenizer(train_file, column, vocab, out)

    @work(thread=True, exclusive=True, group="tokenizer")
    def train_tokenizer(self, train_file: str, column: str, vocab: str, out: Path) -> None:
        """Off the UI thread, on what the form held when asked: no widget is read here."""
        self.app.call_from_thread(
            self.notify, f"training a {vocab}-token tokenizer on {train_file}…"
        )
        argv = ["tokenizer", "--train_file", train_file, "--text_column", column, "--vocab_size", vocab,
                "--output_dir", str(out)]  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "tpudeck", *argv], capture_output=True, text=True
        )
        if done.returncode:
            error = (done.stderr.strip().splitlines() or ["tokenizer training failed"])[-1]
            self.app.call_from_thread(
                self.notify, error.removeprefix("tpudeck: error: "), severity="error"
            )
            return
        self.app.call_from_thread(self._use_tokenizer, str(out))

    def _use_tokenizer(self, directory: str) -> None:
        self.query_one("#tokenizer_name", Input).value = directory
        self.notify(f"tokenizer ready: {directory}")
