"""The tpudeck Textual app: screens, keys, themes and the actions they share.

Screens other than Runs are imported when first opened: the first paint waits for none of
them (their widgets, plots and Markdown cost ~0.2 s of imports)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme

from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.actions import request_stop
from tpudeck.core.runs.launch import Launched, resume_training
from tpudeck.core.runs.notices import announce_quietly
from tpudeck.core.runs.rundir import FINAL_STATES
from tpudeck.core.runs.store import RunStore, check_owner
from tpudeck.core.user_settings import load_settings, save_setting
from tpudeck.themes import load_theme_files

from .messages import LaunchDone, RunEnded, RunsRead
from .run_rows import RunRows
from .screens.dialogs import Confirm
from .screens.runs import RunsScreen
from .store_watch import IDLE_SECONDS, LIVE_SECONDS, EndingsSeen, watch_changes

log = logging.getLogger(__name__)

THEMES = ("tpudeck-dark", "tpudeck-light")


class TpudeckApp(App):
    CSS_PATH = Path(__file__).with_name("tpudeck.tcss")  # absolute: subclasses live elsewhere
    TITLE = "tpudeck"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("n", "new_run", "Launch"),
        Binding("v", "devices", "Devices"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
    ]

    def __init__(self, store: RunStore | None = None, launch_values: dict | None = None):
        super().__init__()
        self.store = store or RunStore()
        self.launch_values = launch_values  # the embedded demo opens the Launch screen filled in
        self.rows = RunRows(self.store)
        self.store_changed = threading.Event()  # wakes the store's reader before its time
        self.store_watched = False  # the kernel tells of changes to the store (inotify)
        self.store_idle = False  # no run is live: the reader waits for the kernel's word
        self.closing = threading.Event()
        # Set before the stylesheet is first applied: a theme set on mount applied it all
        # again, which cost the first paint ~10 ms, and the Runs table's first rows could
        # keep its header's column widths (the Runs snapshot failed 6 times in 8).
        for values in load_theme_files():
            self.register_theme(Theme(**values))
        self.theme = load_settings().get("theme", THEMES[0])

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self.launch_values is not None:
            from .screens.launch import LaunchScreen

            self.push_screen(LaunchScreen(self.launch_values))
        self.watch_store()

    def on_ready(self) -> None:
        """After the first paint, which the kernel watcher's start would delay (~20 ms).
        Not a worker: asyncio joins its workers' threads as the app quits, and watchfiles
        sees the stop only at its next 50 ms step; a daemon thread is left to end alone."""
        threading.Thread(target=self.watch_store_files, name="store-watch", daemon=True).start()

    # -- the run store -----------------------------------------------------------------

    @work(thread=True, group="store")
    def watch_store(self) -> None:
        """The store's one reader, for the app's life: rows for the Runs screen, and a
        notice for each run that ends meanwhile (its notify_command run once across every
        app and the trainer); each second while a run is live, else when the store changes
        (store_watch.py)."""
        seen = EndingsSeen()
        while not self.closing.is_set():
            rows = self.rows.read()
            for notice in seen.news(rows):
                announce_quietly(notice, self.store.home)
                self.post_message(RunEnded(notice))
            self.post_message(RunsRead(rows))
            live = any(row.state not in FINAL_STATES for row in rows)
            self.store_idle = self.store_watched and not live
            self.store_changed.wait(IDLE_SECONDS if self.store_idle else LIVE_SECONDS)
            self.store_changed.clear()

    def watch_store_files(self) -> None:
        """Wakes the store's reader when the kernel says the store changed."""
        self.store_watched = True
        try:
            watch_changes(self.store.runs_dir, self.store_files_changed, self.closing)
        except (OSError, RuntimeError) as exc:
            log.warning("the run store is listed each second: %s cannot be watched (%s)",
                        self.store.runs_dir, exc)  # fmt: skip
        finally:
            self.store_watched = False

    def store_files_changed(self) -> None:
        """The kernel's word wakes an idle reader; a reader listing each second anyway (a run
        is live, its events growing) is not woken by every event on top of that."""
        if self.store_idle:
            self.store_changed.set()

    def on_unmount(self) -> None:
        self.closing.set()
        self.store_changed.set()  # the reader sees it now, not in a second

    def reread_store(self) -> None:
        """Now, not at the next second: after a delete, say."""
        self.store_changed.set()

    def on_runs_read(self, message: RunsRead) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, RunsScreen):
                screen.show_runs(message.rows)

    def on_run_ended(self, message: RunEnded) -> None:
        notice = message.notice
        self.notify(notice.describe(), severity="error" if notice.bad else "information",
                    timeout=15)  # fmt: skip
        if load_settings().get("bell"):
            self.bell()

    def watch_theme(self, theme: str) -> None:
        if theme in THEMES:
            save_setting("theme", theme)

    # -- navigation --------------------------------------------------------------------

    def open_run(self, run_id: str) -> None:
        from .screens.run import RunScreen

        self.push_screen(RunScreen(run_id))

    def try_run(self, record) -> None:
        """The Try screen on a run's exported model (as of its latest save)."""
        from .screens.try_model import TryScreen

        run_dir = record.run_dir
        if not (run_dir.model_dir / "config.json").is_file():
            self.notify(f"{record.run_id} has no model yet: a run exports one at each save")
            return
        try:
            spec = json.loads(run_dir.spec_path.read_text())
        except (OSError, ValueError):
            spec = {}
        images = spec.get("validation_dir") or spec.get("train_dir")  # where to pick from
        self.push_screen(TryScreen(run_dir.path, record.run_id, images and Path(images)))

    def open_launch(self, spec_path: Path | None = None) -> None:
        values = None
        if spec_path is not None:
            from tpudeck.core.spec import RunSpec

            try:
                values = RunSpec.load(spec_path).to_dict()
            except TpudeckError as exc:
                self.notify(str(exc), severity="error")
                return
            values.update(output_dir=None, run_name=None)  # a relaunch is a new run
        from .screens.launch import LaunchScreen

        self.push_screen(LaunchScreen(values))

    def action_new_run(self) -> None:
        self.open_launch()

    def action_devices(self) -> None:
        from .screens.devices import DevicesScreen

        self.push_screen(DevicesScreen())

    def action_help(self) -> None:
        from .screens.help import Help

        self.push_screen(Help())

    def action_toggle_theme(self) -> None:
        self.theme = (
            THEMES[(THEMES.index(self.theme) + 1) % len(THEMES)]
            if self.theme in THEMES
            else THEMES[0]
        )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's "Theme" offers every built-in theme; tpudeck's two are its own entry.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Theme")
        yield SystemCommand(
            "Launch a run", "Pick model, data and recipe, then launch", self.action_new_run
        )
        yield SystemCommand(
            "Devices", "Host, who holds the accelerator, the queue", self.action_devices
        )
        yield SystemCommand(
            "Toggle dark/light theme", "Remembered for next time", self.action_toggle_theme
        )
        yield SystemCommand("Help", "Every key of every screen", self.action_help)
        for binding in type(screen).BINDINGS:  # this screen's own actions, by their key
            if isinstance(binding, Binding) and binding.description and binding.show:
                key = binding.key_display or binding.key
                yield SystemCommand(
                    binding.description,
                    f"{key} on this screen",
                    partial(self.run_action, binding.action, screen),
                )

    # -- actions shared by screens --------------------------------------------------------

    def act_on_run(self, action: Callable[[], object], done: str) -> None:
        """Run an owner-checked run action; its one-line error becomes a notification."""
        try:
            action()
        except (TpudeckError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(done)

    def stop_with_confirmation(self, record) -> None:
        """Stop a run after a yes; another user's run is refused before the question."""
        try:
            check_owner(record, "stop")
        except TpudeckError as exc:
            self.notify(str(exc), severity="error")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.act_on_run(lambda: request_stop(record), f"stopping {record.run_id}")

        self.push_screen(
            Confirm(f"Stop run {record.run_id}? It checkpoints, then stops."), confirmed
        )

    def resume(self, record) -> None:
        """Continue a run that ended before its last step, from its latest checkpoint."""
        if record.state == "finished":
            self.notify(
                f"{record.run_id} finished all its steps: nothing to resume "
                "(e on the Runs screen launches it again, edited)"
            )
        elif record.state not in FINAL_STATES:
            self.notify(f"{record.run_id} is {record.state}: nothing to resume")
        else:
            self.launch(partial(resume_training, str(record.run_dir.path)))

    @work(thread=True, exclusive=True, group="launch")
    def launch(self, start: Callable[[], Launched]) -> None:
        """Run an engine launch (runs/launch.py) off the UI thread: it validates, prepares
        data and returns once the run is queued or started."""
        self.call_from_thread(self.notify, "launching: preparing data…")
        try:
            launched = start()
        except TpudeckError as exc:
            self.post_message(LaunchDone(None, str(exc)))
            return
        self.post_message(LaunchDone(launched.run_id, None))

    def on_launch_done(self, message: LaunchDone) -> None:
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
            return
        from .screens.launch import LaunchScreen
        from .screens.run import RunScreen

        if isinstance(self.screen, LaunchScreen):
            self.pop_screen()
        if isinstance(self.screen, RunScreen) and self.screen.record.run_id == message.run_id:
            return  # resumed from its own screen, which follows it on
        self.open_run(message.run_id)
