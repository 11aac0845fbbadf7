"""Comparing runs: marked on the Runs screen and opened side by side, and `tpudeck compare`."""

import json

import pytest

from tpudeck.core.runs.compare import smoothed
from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.screens.compare import CompareScreen

from .builders import fake_run, text_of, tpudeck, wait_for

SIZE = (140, 45)


def sweep(home, sleeper) -> list[str]:
    """Three finished runs of a learning-rate sweep: 20, 30 and 40 steps; two evals each,
    the best (0.5) before the last."""
    ids = []
    for i, lr in enumerate((1e-3, 3e-3, 1e-2)):
        run = fake_run(home, f"2026010{i + 1}-000000-lr{i}-000{i}", "finished", sleeper.pid,
                       steps=20 + 10 * i)  # fmt: skip
        run.replace_spec(json.dumps({"model_type": "gpt2", "learning_rate": lr, "seed": 42}))
        run.emit("eval", step=30 + 10 * i, loss=0.9 - 0.1 * i, perplexity=2.0)
        ids.append(run.run_id)
    return ids


async def test_three_marked_runs_compare_on_one_chart_smoothed_against_tokens(
    tpudeck_home, sleeper
):
    sweep(tpudeck_home, sleeper)
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#runs")
        await wait_for(pilot, lambda: table.row_count == 3, 10)
        await pilot.press("C")  # nothing marked: it says how
        assert "mark two or more runs" in str(list(app._notifications)[-1].message)
        await pilot.press("space", "down", "space", "down", "space", "C")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), 10)
        loss = app.screen.query_one("#compare-loss")
        await wait_for(pilot, lambda: len(loss.drawn) == 6, 10)  # each run: train and eval
        assert set(loss.drawn) == {f"lr{i}" for i in range(3)} | {f"lr{i} eval" for i in range(3)}
        assert loss.looks["lr2"].color == loss.looks["lr2 eval"].color  # a run keeps its colour
        assert len({loss.looks[f"lr{i}"].color for i in range(3)}) == 3
        assert loss.drawn["lr0"][1][:3] == [5.0, 2.5, 5.0 / 3]

        await pilot.press("plus", "plus", "plus")  # smoothing 0.3
        assert loss.drawn["lr0"][1][1] == pytest.approx(smoothed([5.0, 2.5], 0.3)[1])
        assert loss.drawn["lr0"][1][1] != 2.5 and loss.drawn["lr0 eval"][1] == [0.5, 0.9]
        await pilot.press("x")  # tokens seen: steps x (tokens/s over steps/s = 500 a step)
        assert loss.drawn["lr0"][0][:2] == [500.0, 1000.0]
        await pilot.press("l")
        assert loss.log_y and "y: log" in text_of(app, "#compare-view")

        rows = app.screen.query_one("#compare-table")
        assert rows.row_count == 3 and "learning_rate" in text_of(app, "#differing")
        assert "seed" not in text_of(app, "#differing")  # the same in all three
        final = [rows.get_row_at(i)[3] for i in range(3)]
        best = [rows.get_row_at(i)[4] for i in range(3)]
        # In the order marked: the list shows the newest (lr2) first.
        assert final == ["0.7", "0.8", "0.9"] and best == ["0.5 (40)", "0.5 (30)", "0.5 (20)"]


def test_compare_prints_final_and_best_and_the_settings_that_differ(tpudeck_home, sleeper):
    ids = sweep(tpudeck_home, sleeper)
    result = tpudeck("compare", *ids, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["run_id"] for r in report["runs"]] == ids
    assert report["runs"][0]["best_eval_loss"] == {"value": 0.5, "step": 20}
    assert report["runs"][1]["loss"] == pytest.approx(5.0 / 30)
    assert report["differing_settings"] == {"learning_rate": [1e-3, 3e-3, 1e-2]}
    text = tpudeck("compare", "lr0", "lr2").stdout
    assert "BEST LOSS (STEP)" in text and "0.5 (40)" in text
    assert "learning_rate  0.001  |  0.01" in text


def test_smoothing_is_tensorboards_debiased_moving_average():
    assert smoothed([1.0, 0.0], 0.5) == [1.0, pytest.approx(1 / 3)]
    assert smoothed([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]
    assert smoothed([2.0] * 50, 0.9) == pytest.approx([2.0] * 50)  # no pull toward zero
