"""Pick a path for a Launch field from the keyboard: data files and saved 🤗 datasets for
the data fields, HF checkpoint, config and tokenizer folders for the model fields.

Arrows move, enter opens a folder or picks a file; ctrl+o picks the folder under the
cursor when it is what the field wants (a saved dataset, a checkpoint), since such a
folder is one thing, not a place to browse. Backspace goes up a folder, ctrl+d to the demo
data tpudeck writes; the picker opens where the field's path already points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Static

from tpudeck.core.data import image_folder, saved_datasets
from tpudeck.core.data.text_files import DATA_FILE_TYPES


def _holds(*names: str) -> Callable[[Path], str | None]:
    def check(folder: Path) -> str | None:
        return "ready" if all((folder / n).is_file() for n in names) else None

    return check


@dataclass(frozen=True)
class Target:
    """What a field takes: files with these suffixes, and/or folders passing `folder`."""

    what: str
    suffixes: tuple = ()
    folder: Callable[[Path], str | None] = field(default=lambda _: None)


def _image_folder(folder: Path) -> str | None:
    return "ready" if len(image_folder.class_names(folder)) >= 2 else None


DATA = Target("training data", tuple(DATA_FILE_TYPES), saved_datasets.kind)
IMAGES = Target("an image folder (a subfolder of images per class)", folder=_image_folder)
TARGETS = {
    "train_file": DATA,
    "validation_file": DATA,
    "train_dir": IMAGES,
    "validation_dir": IMAGES,
    "model_name_or_path": Target(
        "a HF checkpoint folder", folder=_holds("config.json", "model.safetensors")
    ),
    "config_name": Target("a model config", (".json",), _holds("config.json")),
    "tokenizer_name": Target("a tokenizer folder", folder=_holds("tokenizer.json")),
    "image": Target("an image to classify", image_folder.IMAGE_FILE_TYPES),  # the Try screen
}


class PathTree(DirectoryTree):
    """Folders, and the files the target takes; hidden entries are left out."""

    def __init__(self, root: Path, suffixes: tuple, **kwargs):
        super().__init__(root, **kwargs)
        self.suffixes = suffixes

    def filter_paths(self, paths):
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in self.suffixes)
        ]


def start_folder(typed: str, fallback: Path) -> Path:
    """Where a picker opens: the folder holding what the field names (so it shows among
    its neighbours), or the nearest folder that exists above a path not written yet; else
    `fallback`."""
    if not typed.strip():
        return fallback
    path = Path(typed.strip()).expanduser().absolute()
    for folder in path.parents if path.exists() else (path, *path.parents):
        if folder.is_dir():
            return folder.resolve()
    return fallback


class PathPicker(ModalScreen[str | None]):
    CSS_PATH = "picker.tcss"  # loaded when the screen is first opened
    BINDINGS = [
        Binding("ctrl+o", "pick_folder", "Pick this folder"),
        Binding("backspace", "up", "Up a folder"),
        Binding("ctrl+d", "demo_data", "Demo data"),
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    def __init__(self, field_name: str, root: Path, demo_data: Path | None = None):
        super().__init__()
        self.field_name, self.root, self.demo_data = field_name, root, demo_data
        self.target = TARGETS[field_name]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(
                f"[b]{self.field_name}[/b]: {self.target.what}. enter picks a file or opens a "
                "folder; ctrl+o picks the folder under the cursor; backspace goes up; esc cancels",
                id="picker-help",
            )
            yield Static(str(self.root), id="picker-folder")
            yield PathTree(self.root, self.target.suffixes, id="path-tree")
            yield Static(id="picker-status")

    def browse(self, folder: Path) -> None:
        self.query_one(PathTree).path = folder
        self.query_one("#picker-folder", Static).update(str(folder))

    def action_up(self) -> None:
        self.browse(Path(self.query_one(PathTree).path).resolve().parent)

    def action_demo_data(self) -> None:
        if self.demo_data and self.demo_data.is_dir():
            self.browse(self.demo_data)
        else:
            self.notify(
                "no demo data yet: ctrl+d on the Launch screen writes it", severity="warning"
            )

    @on(DirectoryTree.FileSelected)
    def pick_file(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(str(event.path))

    @on(DirectoryTree.DirectorySelected)
    def describe_folder(self, event: DirectoryTree.DirectorySelected) -> None:
        status = ""
        if self.target.folder(event.path):
            splits = saved_datasets.splits(event.path)
            status = f"{self.target.what}{' with splits ' + ', '.join(splits) if splits else ''}: ctrl+o picks it"
        self.query_one("#picker-status", Static).update(status)

    def action_pick_folder(self) -> None:
        node = self.query_one(PathTree).cursor_node
        path = node.data.path if node and node.data else None
        if path is not None and path.is_dir() and self.target.folder(path):
            self.dismiss(str(path))
        else:
            self.notify(f"not {self.target.what}", severity="warning")
