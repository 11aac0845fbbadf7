"""Try: a run's model on what you type, its answer as it is produced, beside a run that
trains, and beside another of the run's checkpoints (ctrl+b: both answer the same input).
Each model lives in a worker process (core/trying/worker.py) started when its pane opens
and ended when it closes; the app itself imports no ML library. The tasks that generate
show their settings above the input; an image is a typed path or picked (ctrl+o)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Header, Input, Static

from tpudeck.core.runs.rundir import list_steps
from tpudeck.core.trying.tasks import GENERATING
from tpudeck.core.trying.worker import TryWorker
from tpudeck.core.user_settings import load_settings, save_setting

from .dialogs import PickOne
from .picker import PathPicker, start_folder

# What each task asks for, and how its answers read.
PROMPTS = {
    "text-generation": "a prompt to continue",
    "summarization": "a text to summarize",
    "fill-mask": "a sentence with a mask token where a word is missing",
    "text-classification": "a sentence to classify",
    "image-classification": "the path of an image file (ctrl+o picks one)",
}
# ui.json's key for the generation settings last sent, offered again on the next visit.
REMEMBERED = "try_settings"


@dataclass
class WorkerSaid(Message):
    """One message of a pane's model process (a JSON object, worker.py)."""

    said: dict


@dataclass
class Ready(Message):
    """A pane's model is loaded and does `task`, taking `settings` (names: defaults)."""

    task: str
    settings: dict


class ModelPane(Vertical):
    """One model: a status line, the answer to the latest input, and its worker process
    (`folder`: a model folder, or with `step` the run whose checkpoint it exports)."""

    def __init__(self, label: str, folder: Path, step: int | None = None, prefix: str = "try"):
        super().__init__(id=f"pane-{prefix}", classes="try-pane")
        self.label, self.folder, self.step, self.prefix = label, folder, step, prefix
        self.model_process: TryWorker | None = None
        self.pieces = 0  # streamed updates of the current answer
        self.model_task: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"{self.label}: starting the model's process ...", id=f"{self.prefix}-status")
        yield Static(id=f"{self.prefix}-answer")

    def on_mount(self) -> None:
        self.start()

    def on_unmount(self) -> None:
        if self.model_process is not None:
            self.model_process.close()

    @work(thread=True, exclusive=True, group="model")
    def start(self) -> None:
        self.model_process = TryWorker(self.folder, self.step)
        self.post_message(WorkerSaid(self.model_process.read()))

    @work(thread=True, exclusive=True, group="model")
    def ask(self, request: dict) -> None:
        if self.model_task is None:
            return  # still loading, or it could not
        self.pieces = 0
        self.model_process.send({"try": request})
        while True:
            said = self.model_process.read()
            self.post_message(WorkerSaid(said))
            if "piece" not in said:
                return

    def on_worker_said(self, message: WorkerSaid) -> None:
        message.stop()
        said, answer = message.said, self.query_one(f"#{self.prefix}-answer", Static)
        if "ready" in said:
            ready = said["ready"]
            self.model_task = ready["task"]
            where = ready["note"] or f"on the {ready['device']}"
            status = f"{self.label} · {self.model_task} · {where}"
            self.query_one(f"#{self.prefix}-status", Static).update(escape(status))
            self.post_message(Ready(self.model_task, ready.get("settings", {})))
        elif "piece" in said:
            self.pieces += 1
            answer.update(escape(said["piece"]))
        elif "result" in said:
            answer.update(escape(_readable(self.model_task, said["result"])))
        else:
            answer.update(f"[b]{escape(said['error'])}[/b]")


class TryScreen(Screen):
    CSS_PATH = "try_model.tcss"  # loaded when the screen is first opened
    BINDINGS = [
        Binding("ctrl+b", "beside", "Checkpoint beside"),
        Binding("ctrl+o", "pick_image", "Pick image"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run_path: Path, title: str, data_folder: Path | None = None):
        """The run's exported model; `data_folder`: where the image picker opens."""
        super().__init__()
        self.run_path, self.title_text, self.data_folder = run_path, title, data_folder
        self.model_task: str | None = None
        self.defaults: dict = {}  # the model's settings, as its worker gave them

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="try"):
            yield Horizontal(id="try-settings")  # the model's own, once it is ready
            yield Input(placeholder="wait for the model", id="try-input", disabled=True)
            yield Static(id="try-error")
            with Horizontal(id="try-panes"):
                yield ModelPane("export", self.run_path / "model")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"try {self.title_text}"
        self.query_one("#try-settings").display = False

    async def on_ready(self, message: Ready) -> None:
        if self.model_task is not None:
            return  # the model beside: the screen is set for the task already
        self.model_task, self.defaults = message.task, message.settings
        remembered = load_settings().get(REMEMBERED)
        chosen = remembered if isinstance(remembered, dict) else {}
        settings = self.query_one("#try-settings")
        # Mounted before the input opens, so whatever is typed is sent with them.
        await settings.mount_all(_setting_widget(name, default, chosen.get(name, default))
                                 for name, default in self.defaults.items())  # fmt: skip
        settings.display = bool(self.defaults)
        prompt = self.query_one("#try-input", Input)
        prompt.placeholder, prompt.disabled = PROMPTS[message.task], False
        prompt.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "try-input" and event.value.strip():
            self.send(event.value)

    def send(self, text: str) -> None:
        """The input, with the generation settings, to every pane's model."""
        error = self.query_one("#try-error", Static)
        try:
            request = {"text": text, **self.settings()}
        except ValueError as exc:
            error.update(f"[b]{escape(str(exc))}[/b]")
            return
        error.update("")
        if self.defaults:
            save_setting(REMEMBERED, {k: v for k, v in request.items() if k != "text"})
        for pane in self.query(ModelPane):
            pane.query_one(f"#{pane.prefix}-answer", Static).update("...")
            pane.ask(request)

    def settings(self) -> dict:
        """The settings as typed, each of its default's type (the worker checks the rest)."""
        values: dict = {}
        for name, default in self.defaults.items():
            if isinstance(default, bool):
                values[name] = self.query_one(f"#{name}", Checkbox).value
                continue
            typed = self.query_one(f"#{name}", Input).value.strip()
            try:
                values[name] = type(default)(typed)
            except ValueError:
                raise ValueError(f"{name} needs a number, not {typed!r}") from None
        return values

    def action_beside(self) -> None:
        """Pick one of the run's checkpoints to answer beside the export (again: another)."""
        steps = list_steps(self.run_path / "checkpoints")
        if not steps:
            self.notify("the run has no checkpoint yet", severity="warning")
            return

        def open_beside(picked: str | None) -> None:
            if picked is None:
                return
            for old in self.query("#pane-beside"):
                old.remove()  # its process ends as it unmounts
            step = int(picked.removeprefix("step "))
            panes = self.query_one("#try-panes", Horizontal)
            panes.mount(ModelPane(picked, self.run_path, step, prefix="beside"))

        options = [f"step {step}" for step in reversed(steps)]
        self.app.push_screen(PickOne("Try which checkpoint beside the export?", options),
                             open_beside)  # fmt: skip

    def action_pick_image(self) -> None:
        if self.model_task != "image-classification":
            self.notify("this model classifies no images", severity="warning")
            return

        def use(path: str | None) -> None:
            if path:
                self.query_one("#try-input", Input).value = path
                self.send(path)

        typed = self.query_one("#try-input", Input).value
        start = start_folder(typed, self.data_folder or Path.cwd())
        self.app.push_screen(PathPicker("image", start), use)


def _setting_widget(name: str, default, value) -> Input | Checkbox:
    """A checkbox for a yes/no setting, else a number field (a remembered value of another
    type falls back to the default)."""
    if isinstance(default, bool):
        return Checkbox(name, value if isinstance(value, bool) else default, id=name)
    value = value if type(value) is type(default) else default
    field = Input(str(value), type="integer" if isinstance(default, int) else "number", id=name,
                  classes="try-setting")  # fmt: skip
    field.border_title = name
    return field


def _readable(task: str | None, result) -> str:
    if task in GENERATING:
        cut = f"\n(the input was cut to {result['truncated']})" if result["truncated"] else ""
        return result["text"] + cut
    if task == "fill-mask":
        return "\n".join(f"{r['score']:.3f}  {r['token']:<16} {r['sequence']}" for r in result)
    return "\n".join(f"{r['score']:.3f}  {r['label']}" for r in result)
