"""Small modal dialogs: a yes/no confirmation and the help sheet."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static


class Confirm(ModalScreen[bool]):
    """Ask a yes/no question; y confirms, n or escape declines."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            yield Static("[b]y[/] yes   [b]n[/] no", id="answers")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


HELP = """\
# tpudeck

Everything is on the keyboard; the footer shows the keys of the screen you are on,
and **ctrl+p** opens the command palette with every action.

| key | where | does |
|---|---|---|
| enter | Runs | open the run: curves, log, checkpoints, Hub pushes |
| n | anywhere | launch a run (model, data, script, hyper-parameters) |
| s | Runs, Run | stop the run: it finishes its step, checkpoints, stops |
| x | Runs | delete a finished run (your own) |
| c | Runs | resume (continue) a stopped run from its checkpoint |
| e | Runs | launch again with the run's settings, edited |
| / | Runs | filter runs by text |
| ctrl+l | Launch | launch (or queue) the run the form describes |
| ctrl+o | Launch | pick a path for the focused field: data, image folder, checkpoint, tokenizer |
| ctrl+k | Launch | train a tokenizer on the train file |
| v | anywhere | devices: per-chip TPU use, host, who holds the accelerator, the queue |
| ctrl+t | anywhere | switch between dark and light themes (remembered) |
| escape | screens | back |
| q | anywhere | quit; runs keep going |

Closing the terminal never stops a run: they run detached and tpudeck shows them again
when you reopen it.
"""


class Help(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Markdown(HELP)
