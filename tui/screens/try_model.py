"""Try: a run's model on what you type, its answer as it is produced, beside a run that
trains. The model lives in a worker process (core/trying/worker.py) started when the
screen opens and ended when it closes; the app itself imports no ML library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from tpudeck.core.trying.worker import TryWorker

# What each task asks for, and how its answers read.
PROMPTS = {
    "text-generation": "a prompt to continue",
    "summarization": "a text to summarize",
    "fill-mask": "a sentence with a mask token where a word is missing",
    "text-classification": "a sentence to classify",
    "image-classification": "the path of an image file",
}


@dataclass
class WorkerSaid(Message):
    """One message of the model's process (a JSON object, worker.py)."""

    said: dict


class TryScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, folder: Path, title: str):
        super().__init__()
        self.folder, self.title_text = folder, title
        self.model_process: TryWorker | None = None
        self.model_task: str | None = None
        self.pieces = 0  # streamed updates of the current answer

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="try"):
            yield Static("starting the model's process ...", id="try-status")
            yield Input(placeholder="wait for the model", id="try-input", disabled=True)
            yield Static(id="try-answer")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"try {self.title_text}"
        self.start()

    def on_unmount(self) -> None:
        if self.model_process is not None:
            self.model_process.close()

    @work(thread=True, exclusive=True, group="try")
    def start(self) -> None:
        self.model_process = TryWorker(self.folder)
        self.post_message(WorkerSaid(self.model_process.read()))

    @work(thread=True, exclusive=True, group="try")
    def ask(self, text: str) -> None:
        self.model_process.send({"try": {"text": text}})
        while True:
            said = self.model_process.read()
            self.post_message(WorkerSaid(said))
            if "piece" not in said:
                return

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.model_task is None or not event.value.strip():
            return
        self.pieces = 0
        self.query_one("#try-answer", Static).update("...")
        self.ask(event.value)

    def on_worker_said(self, message: WorkerSaid) -> None:
        said, answer = message.said, self.query_one("#try-answer", Static)
        if "ready" in said:
            ready = said["ready"]
            self.model_task = ready["task"]
            where = ready["note"] or f"on the {ready['device']}"
            self.query_one("#try-status", Static).update(f"{self.model_task} · {where}")
            prompt = self.query_one("#try-input", Input)
            prompt.placeholder, prompt.disabled = PROMPTS[self.model_task], False
            prompt.focus()
        elif "piece" in said:
            self.pieces += 1
            answer.update(escape(said["piece"]))
        elif "result" in said:
            answer.update(escape(_readable(self.model_task, said["result"])))
        else:
            answer.update(f"[b]{escape(said['error'])}[/b]")


def _readable(task: str | None, result) -> str:
    if task in ("text-generation", "summarization"):
        cut = f"\n(the input was cut to {result['truncated']})" if result["truncated"] else ""
        return result["text"] + cut
    if task == "fill-mask":
        return "\n".join(f"{r['score']:.3f}  {r['token']:<16} {r['sequence']}" for r in result)
    return "\n".join(f"{r['score']:.3f}  {r['label']}" for r in result)
