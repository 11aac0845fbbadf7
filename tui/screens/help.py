"""The help sheet (?): every key of every screen, in Markdown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# tpudeck

Everything is on the keyboard; the footer shows the keys of the screen you are on,
and **ctrl+p** opens the command palette with every action.

| key | where | does |
|---|---|---|
| enter | Runs | open the run: curves, log, checkpoints, Hub pushes |
| n | anywhere | launch a run (model, data, script, hyper-parameters) |
| s | Runs, Run | stop the run: it finishes its step, checkpoints, stops |
| c | Runs, Run | resume a stopped, failed or died run from its latest checkpoint |
| t | Runs, Run | try the run's model on your own input |
| l | Run | the next process's log, of a run on several hosts |
| ctrl+b | Try | try a checkpoint of the run beside it, on the same input |
| ctrl+o | Try | pick the image to classify |
| x | Runs | delete a finished run (your own) |
| e | Runs | launch again with the run's settings, edited |
| / | Runs | filter runs by text; escape clears it |
| o | Runs | sort by newest, state, owner or loss |
| space | Runs | mark a run (again: unmark) |
| C | Runs | compare the marked runs: curves on one chart, evaluations, settings that differ |
| x | Compare | curves against step, tokens seen or wall time |
| + - | Compare | smooth the curves more or less (TensorBoard's moving average) |
| l | Compare | log scale for y |
| ctrl+l | Launch | launch (or queue) the run the form describes |
| ctrl+o | Launch | pick a path for the focused field: data, image folder, checkpoint, tokenizer |
| ctrl+k | Launch | train a tokenizer on the train file |
| ctrl+d | Launch | fill the form with the embedded demo's data |
| v | anywhere | devices: per-chip TPU use, host, who holds the accelerator, the queue |
| + - | Devices | raise or lower the selected queued run's priority (yours; root: anyone's) |
| [ ] | Devices | move the selected queued run up or down among yours |
| ctrl+t | anywhere | switch between dark and light themes (remembered) |
| ctrl+p | anywhere | the command palette: every action of the screen you are on |
| escape | screens | back |
| q | anywhere | quit; runs keep going |

Closing the terminal never stops a run: they run detached and tpudeck shows them again
when you reopen it.
"""


class Help(ModalScreen[None]):
    """Scrolls (arrows, page keys) when the terminal is shorter than the table."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
