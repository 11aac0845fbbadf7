"""What a new user tried first at 100x30: the help, the filter, the palette, `--help`."""

import re
from pathlib import Path

from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.screens.compare import CompareScreen
from tpudeck.tui.screens.devices import DevicesScreen
from tpudeck.tui.screens.help import HELP, Help
from tpudeck.tui.screens.launch import LaunchScreen
from tpudeck.tui.screens.run import RunScreen
from tpudeck.tui.screens.runs import RunsScreen

from .builders import fake_run, tpudeck, wait_for

SMALL = (100, 30)


def test_the_help_names_every_key_a_footer_shows():
    where = {}  # key -> the screens its rows name
    for line in HELP.splitlines():
        if cells := re.match(r"\| ([^|]+?) \| ([^|]+) \|", line):
            for key in cells[1].split():
                where.setdefault(key, set()).update(cells[2].strip().split(", "))
    keys = {"slash": "/", "question_mark": "?", "plus,equals_sign": "+", "minus": "-",
            "left_square_bracket": "[", "right_square_bracket": "]"}  # fmt: skip
    for name, screen in (("Runs", RunsScreen), ("Run", RunScreen), ("Launch", LaunchScreen),
                         ("Compare", CompareScreen), ("Devices", DevicesScreen),
                         ("anywhere", TpudeckApp)):  # fmt: skip
        for binding in screen.BINDINGS:
            key = keys.get(binding.key, binding.key)
            if binding.show and key not in ("escape", "?"):
                assert where.get(key, set()) & {name, "anywhere"}, (name, key)


async def test_the_help_scrolls_to_its_end_at_100x30():
    app = TpudeckApp()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, Help), 10)
        box = app.screen.query_one("#help")
        await pilot.pause(0.3)
        assert box.max_scroll_y > 0  # taller than the terminal: it must scroll
        box.focus()
        await pilot.press("end")
        await pilot.pause(0.3)
        assert box.scroll_y == box.max_scroll_y


async def test_escape_clears_and_hides_the_runs_filter(tpudeck_home, sleeper):
    fake_run(tpudeck_home, "20260101-000000-alpha-0001", "finished", sleeper.pid)
    fake_run(tpudeck_home, "20260101-000000-beta-0002", "finished", sleeper.pid)
    app = TpudeckApp()
    async with app.run_test(size=SMALL) as pilot:
        table = app.screen.query_one("#runs")
        await wait_for(pilot, lambda: table.row_count == 2, 10)
        await pilot.press("slash", *"beta")
        assert table.row_count == 1
        await pilot.press("escape")
        box = app.screen.query_one("#filter")
        assert table.row_count == 2 and box.value == "" and not box.display
        assert app.focused is table
        await pilot.press("tab")
        assert app.focused is not box  # hidden: out of the Tab order


async def test_the_palette_has_one_theme_entry():
    from textual.command import CommandPalette

    app = TpudeckApp()
    async with app.run_test(size=SMALL) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme" not in titles and "Toggle dark/light theme" in titles
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), 10)


def test_help_lists_only_the_commands_people_type():
    result = tpudeck("--help")
    assert result.returncode == 0 and "train" in result.stdout
    assert "_run" not in result.stdout and "_script" not in result.stdout


async def test_the_launch_form_offers_only_what_the_recipe_takes():
    app = TpudeckApp(launch_values={"model_size": "demo"})
    async with app.run_test(size=SMALL) as pilot:
        screen = app.screen
        assert isinstance(screen, LaunchScreen) and app.focused.id == "recipe"
        assert not screen.query_one("#script").display  # a script's field, for scripts only
        screen.query_one("#recipe").value = "mlm"
        await pilot.pause()
        assert screen.offered["model_type"] == ("bert", "roberta")
        assert screen.query_one("#model_type").value in ("bert", "roberta")
        assert "ctrl+k" in screen.active_bindings
        screen.query_one("#recipe").value = "image_classification"
        await pilot.pause()
        assert screen.offered["model_type"] == ("vit",)
        assert "ctrl+k" not in screen.active_bindings  # no tokenizer to train for images
        assert not screen.query_one("#text_column").display
        screen.query_one("#recipe").value = "script"
        await pilot.pause()
        assert screen.query_one("#script").display


async def test_a_pasted_command_picks_recipe_then_family_then_size():
    app = TpudeckApp(launch_values={"model_size": "demo"})
    async with app.run_test(size=SMALL) as pilot:
        app.screen.fill({"model_size": "base", "model_type": "roberta", "recipe": "mlm"})
        await pilot.pause()
        picked = [
            app.screen.query_one(f"#{n}").value for n in ("recipe", "model_type", "model_size")
        ]
        assert picked == ["mlm", "roberta", "base"] and not app._notifications


async def test_the_picker_opens_where_the_field_points_goes_up_and_reaches_the_demo_data(
    tmp_path, monkeypatch, tpudeck_home
):
    from tpudeck.tui.screens.picker import PathPicker

    (tmp_path / "corpora" / "wiki").mkdir(parents=True)
    (tmp_path / "corpora" / "wiki" / "a.txt").write_text("text\n")
    (tpudeck_home / "demo").mkdir(parents=True)
    (tpudeck_home / "demo" / "stories.txt").write_text("once\n")
    monkeypatch.chdir(tmp_path)
    app = TpudeckApp(launch_values={"model_size": "demo"})
    async with app.run_test(size=SMALL) as pilot:
        field = app.screen.query_one("#train_file")
        field.value = str(tmp_path / "corpora" / "wiki" / "not-yet-there.txt")
        field.focus()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)
        tree = app.screen.query_one("#path-tree")
        assert Path(tree.path) == tmp_path / "corpora" / "wiki"  # the typed path's folder
        await pilot.press("backspace")
        await pilot.pause(0.2)
        assert Path(tree.path) == tmp_path / "corpora"
        await pilot.press("ctrl+d")
        await wait_for(
            pilot, lambda: [c.label.plain for c in tree.root.children] == ["stories.txt"]
        )
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PathPicker), 10)
        assert field.value == str(tpudeck_home / "demo" / "stories.txt")
