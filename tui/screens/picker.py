"""Pick training data from the keyboard: data files and saved 🤗 datasets under a folder.

Arrows move, enter opens a folder or picks a file; a saved dataset (a save_to_disk()
folder) is picked with ctrl+o instead of opened, since its insides are not for training.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Static

from tpudeck.core.data import saved_datasets
from tpudeck.core.registry import DATA_FILE_TYPES


class DataTree(DirectoryTree):
    """Folders and data files only; hidden entries are left out."""

    def filter_paths(self, paths):
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in DATA_FILE_TYPES)
        ]


class DataPicker(ModalScreen[str | None]):
    BINDINGS = [
        Binding("ctrl+o", "pick_folder", "Pick this saved dataset"),
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(
                f"[b]training data[/b] under {self.root}: enter picks a file or opens a folder; "
                "ctrl+o picks a saved dataset folder; esc cancels",
                id="picker-help",
            )
            yield DataTree(self.root, id="data-tree")
            yield Static(id="picker-status")

    @on(DirectoryTree.FileSelected)
    def pick_file(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(str(event.path))

    @on(DirectoryTree.DirectorySelected)
    def describe_folder(self, event: DirectoryTree.DirectorySelected) -> None:
        status = self.query_one("#picker-status", Static)
        kind = saved_datasets.kind(event.path)
        if kind:
            splits = saved_datasets.splits(event.path)
            status.update(
                f"saved dataset{' with splits ' + ', '.join(splits) if splits else ''}: ctrl+o picks it"
            )
        else:
            status.update("")

    def action_pick_folder(self) -> None:
        node = self.query_one(DataTree).cursor_node
        path = node.data.path if node and node.data else None
        if path is not None and saved_datasets.kind(path):
            self.dismiss(str(path))
        else:
            self.notify("not a saved dataset folder (no dataset_dict.json or state.json)")
