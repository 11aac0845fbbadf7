"""Runs: every user's runs with live state; open, stop, delete, resume or relaunch them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input

from tpudeck.core.runs.actions import delete_run

from .dialogs import Confirm

COLUMNS = ("RUN", "STATE", "STEP", "LOSS", "TOK/S", "ETA", "OWNER", "AGE")
# Sort orders the "o" key cycles through: (name, key, newest/largest first).
SORTS = (
    ("newest", lambda r: r.run_id, True),
    ("state", lambda r: (r.state, r.run_id), False),
    ("owner", lambda r: (r.owner, r.run_id), False),
    ("loss", lambda r: (r.loss is None, r.loss or 0.0), False),
)


class RunsScreen(Screen):
    AUTO_FOCUS = "#runs"
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("s", "stop", "Stop"),
        Binding("x", "delete", "Delete"),
        Binding("c", "resume", "Resume"),
        Binding("e", "edit", "Edit & relaunch"),
        Binding("t", "try_model", "Try"),
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
        Binding("space", "mark", "Mark"),
        Binding("C", "compare", "Compare marked"),
        Binding("escape", "close_filter", "Clear filter", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.all_rows: list = []
        self.sort_index = 0
        self.marked: list[str] = []  # run ids, in the order marked: the Compare order

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="filter runs (text in id, state or owner)", id="filter", classes="hidden"
        )
        table = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "runs"
        self.show_rows()

    def show_runs(self, rows: list) -> None:
        """The app's store reader has listed the runs (each second)."""
        self.all_rows = rows
        # Covered by another screen: drawn again when it is back. (Not is_current, which
        # counts a screen still composited behind the one on top.)
        if self.app.screen is self:
            self.show_rows()

    def on_screen_resume(self) -> None:
        self.show_rows()

    def show_rows(self) -> None:
        tables = self.query(DataTable)
        if not tables:  # rows came before the screen's widgets (on_mount shows them) or after
            return
        table = tables.first()
        text = self.query_one("#filter", Input).value.lower()
        wanted = [r for r in self.all_rows if not text or text in " ".join(r.cells()).lower()]
        _, key, reverse = SORTS[self.sort_index]
        wanted.sort(key=key, reverse=reverse)
        selected = self.selected_run_id()
        table.clear()
        for row in wanted:
            run, *rest = row.cells()
            table.add_row("● " + run if run in self.marked else run, *rest, key=row.run_id)
        ids = [r.run_id for r in wanted]
        if selected in ids:
            table.move_cursor(row=ids.index(selected), animate=False)

    def selected_run_id(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(Input.Changed, "#filter")
    def filter_changed(self) -> None:
        self.show_rows()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        if not self.query_one("#filter", Input).value:
            self.action_close_filter()
        self.query_one(DataTable).focus()

    def action_close_filter(self) -> None:
        """Escape: the filter emptied and hidden, out of the Tab order, the list focused."""
        box = self.query_one("#filter", Input)
        box.value = ""
        box.add_class("hidden")
        self.query_one(DataTable).focus()
        self.show_rows()

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.sub_title = f"runs, by {SORTS[self.sort_index][0]}"
        self.show_rows()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("hidden")
        box.focus()

    def action_mark(self) -> None:
        if run_id := self.selected_run_id():
            if run_id in self.marked:
                self.marked.remove(run_id)
            else:
                self.marked.append(run_id)
            self.show_rows()

    def action_compare(self) -> None:
        from .compare import CompareScreen

        present = {r.run_id for r in self.all_rows}
        self.marked = [r for r in self.marked if r in present]  # deleted since: dropped
        if len(self.marked) < 2:
            self.notify("mark two or more runs with space, then C compares them")
            return
        self.app.push_screen(CompareScreen([self.app.store.find(r) for r in self.marked]))

    def _record(self):
        run_id = self.selected_run_id()
        return self.app.store.find(run_id) if run_id else None

    def action_open(self) -> None:
        if run_id := self.selected_run_id():
            self.app.open_run(run_id)

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_open()

    def action_stop(self) -> None:
        record = self._record()
        if record is not None:
            self.app.stop_with_confirmation(record)

    def action_delete(self) -> None:
        record = self._record()
        if record is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.act_on_run(
                    lambda: delete_run(record, self.app.store), f"deleted {record.run_id}"
                )
                self.app.reread_store()

        self.app.push_screen(Confirm(f"Delete run {record.run_id} and all its files?"), confirmed)

    def action_resume(self) -> None:
        record = self._record()
        if record is not None:
            self.app.resume(record)

    def action_try_model(self) -> None:
        record = self._record()
        if record is not None:
            self.app.try_run(record)

    def action_edit(self) -> None:
        record = self._record()
        if record is not None:
            self.app.open_launch(record.run_dir.spec_path)
