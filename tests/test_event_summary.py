"""events.summary: the columns a Run screen shows, kept beside events.jsonl so a long run
opens without parsing every line; used only while the events still hold the bytes it was
made from, and the same as parsing the whole file however it was brought up to date."""

import os

from tpudeck.core.runs.event_summary import (
    EventSummary,
    load_summary,
    refresh_summary,
    summary_path,
)
from tpudeck.core.runs.events import EventTail
from tpudeck.core.runs.rundir import RunDir


def parsed_whole(run: RunDir) -> EventSummary:
    """The reference: every line parsed, no summary involved."""
    summary, tail = EventSummary(), EventTail(run.events_path)
    summary.add_events(tail.read(), tail.offset)
    return summary


def emit_steps(run: RunDir, first: int, last: int) -> None:
    for step in range(first, last + 1):
        run.emit("step", step=step, loss=10.0 / step, lr=1e-3 * step)
        if step % 10 == 0:
            run.emit("eval", step=step, loss=20.0 / step, accuracy=0.5)
        if step % 25 == 0:
            run.emit("push", step=step, state="pushed")


def same(a: EventSummary, b: EventSummary) -> bool:
    return (a.offset, a.latest, a.pushes) == (b.offset, b.latest, b.pushes) and all(
        (list(x.x), list(x.y)) == (list(y.x), list(y.y))
        for x, y in zip(a.curves, b.curves, strict=True)
    )


def test_a_summary_brought_up_to_date_equals_parsing_every_line(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create("{}")
    emit_steps(run, 1, 50)
    first = refresh_summary(run.events_path)
    assert summary_path(run.events_path).is_file() and same(first, parsed_whole(run))
    assert list(first.evals.x) == [10, 20, 30, 40, 50] and len(first.pushes) == 2

    emit_steps(run, 51, 120)  # the run goes on: only the lines after the offset are read
    later = refresh_summary(run.events_path)
    assert later.offset == os.path.getsize(run.events_path) > first.offset
    assert same(later, parsed_whole(run)) and same(load_summary(run.events_path), later)


def test_events_cut_back_or_replaced_are_read_again_not_taken_from_the_summary(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create("{}")
    emit_steps(run, 1, 60)
    kept = os.path.getsize(run.events_path)
    emit_steps(run, 61, 100)
    refresh_summary(run.events_path)
    os.truncate(run.events_path, kept)  # a failed attempt's events cut back (attempt.py)
    assert load_summary(run.events_path).offset == 0  # no longer the file it describes
    emit_steps(run, 61, 130)  # and grown past the old offset with other lines
    assert load_summary(run.events_path).offset == 0
    assert same(refresh_summary(run.events_path), parsed_whole(run))

    refresh_summary(run.events_path)
    first, rest = run.events_path.read_text().split("\n", 1)
    replaced = first.replace('"t": 1', '"t": 2', 1)  # another run's first line
    run.events_path.write_text(replaced + "\n" + rest)
    assert len(replaced) == len(first)  # the same size, other bytes
    assert load_summary(run.events_path).offset == 0


def test_a_summary_that_cannot_be_written_or_read_costs_only_the_parse(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create("{}")
    emit_steps(run, 1, 30)
    summary_path(run.events_path).write_bytes(b"not a summary\n")
    assert load_summary(run.events_path).offset == 0
    summary_path(run.events_path).unlink()
    os.chmod(run.path, 0o555)  # someone else's run folder, read-only to this reader
    try:
        read = refresh_summary(run.events_path)
    finally:
        os.chmod(run.path, 0o755)
    assert same(read, parsed_whole(run))
    if os.geteuid() != 0:  # root writes anyway
        assert not summary_path(run.events_path).exists()
