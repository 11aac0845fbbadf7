"""Read an HF Flax script's metrics from what it prints, as it prints them.

Without TensorFlow those scripts write no TensorBoard files; they log `Total optimization
steps = N` at the start and then, through tqdm's `write` and bar descriptions, lines such as

    Step... (500 | Loss: 2.3418, Learning Rate: 0.00029)                  (training)
    Step... (1000 | Eval Loss: 2.1 | Eval Perplexity: 8.17)              (run_clm_flax.py)
    Step... (1000 | Loss: 2.4, Acc: 0.55)                                 (run_mlm_flax.py)

tqdm redraws with carriage returns, so records end at "\n" or "\r".
"""

from __future__ import annotations

import re
import time
from pathlib import Path

_NUMBER = r"(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)"
_TOTAL = re.compile(r"Total optimization steps = (\d+)")
_TRAIN = re.compile(rf"Step\.\.\. \((\d+) \| Loss: {_NUMBER}, Learning Rate: {_NUMBER}\)")
_EVAL_CLM = re.compile(rf"Step\.\.\. \((\d+) \| Eval Loss: {_NUMBER} \| Eval Perplexity: {_NUMBER}")
_EVAL_MLM = re.compile(rf"Step\.\.\. \((\d+) \| Loss: {_NUMBER}, Acc: {_NUMBER}\)")


class ScriptOutputTail:
    """New `step` and `eval` events from a growing log; a partial last line waits."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.total_steps: int | None = None
        self._first: tuple[int, float] | None = None  # (step, when read) of the first step
        self._seen: set[tuple[str, int]] = set()  # a bar's description repeats as it redraws

    def read_events(self) -> list[tuple[str, dict]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        complete = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self.offset += complete
        events = []
        for line in re.split(r"[\r\n]", data[:complete].decode(errors="replace")):
            event = self._parse(line)
            if event and (event[0], event[1]["step"]) not in self._seen:
                self._seen.add((event[0], event[1]["step"]))
                events.append(event)
        return events

    def _parse(self, line: str) -> tuple[str, dict] | None:
        if total := _TOTAL.search(line):
            self.total_steps = int(total[1])
        elif train := _TRAIN.search(line):
            step, now = int(train[1]), time.monotonic()
            fields = {"step": step, "loss": float(train[2]), "lr": float(train[3])}
            if self.total_steps:
                fields["total_steps"] = self.total_steps
            # Lines carry no time: the pace since the first step line read (lines read
            # together share a time, so a pace between neighbours would be noise)
            self._first = self._first or (step, now)
            if now > self._first[1]:
                pace = fields["steps_per_s"] = (step - self._first[0]) / (now - self._first[1])
                if self.total_steps and pace > 0:
                    fields["eta_s"] = (self.total_steps - step) / pace
            return "step", fields
        elif evaluation := _EVAL_CLM.search(line):
            step, loss, perplexity = int(evaluation[1]), *map(float, evaluation.groups()[1:])
            return "eval", {"step": step, "loss": loss, "perplexity": perplexity}
        elif evaluation := _EVAL_MLM.search(line):
            step, loss, accuracy = int(evaluation[1]), *map(float, evaluation.groups()[1:])
            return "eval", {"step": step, "loss": loss, "accuracy": accuracy}
        return None
