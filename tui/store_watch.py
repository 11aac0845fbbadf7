"""The app's one reader of the run store: a thread lists the runs each second (re-reading
only what changed: run_rows.RunRows), hands the rows to the app, and turns runs that end
while the app is open into notices."""

from __future__ import annotations

from tpudeck.core.runs.notices import Notice, notices_of


class EndingsSeen:
    """The notices this app has already seen. The first listing is the baseline: runs that
    ended before the app opened are not news."""

    def __init__(self):
        self.keys: set[str] | None = None

    def news(self, rows: list) -> list[Notice]:
        current = {n.key: n for row in rows for n in notices_of(row.summary)}
        if self.keys is None:
            self.keys = set(current)
            return []
        fresh = [notice for key, notice in current.items() if key not in self.keys]
        self.keys |= set(current)
        return fresh
