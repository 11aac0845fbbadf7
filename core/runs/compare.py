"""Runs side by side: their curves against step, tokens seen or wall time, their final and
best evaluations, and the settings that differ. Read from run directories only; no ML
library, so the app and `tpudeck compare` share it."""

from __future__ import annotations

import dataclasses
import json
from array import array

from .events import EventTail
from .store import RunRecord

X_AXES = ("step", "tokens", "time")  # what a curve may be drawn against
# Evaluation scores worth a column, higher better; the loss is lower better.
SCORES = ("accuracy", "f1", "matthews_correlation", "pearson", "spearman", "rouge1", "rouge2",
          "rougeL", "perplexity")  # fmt: skip
LOWER_IS_BETTER = ("loss", "perplexity")


@dataclasses.dataclass
class Curve:
    """One metric of one run: y against each x axis (step, tokens seen, seconds since start)."""

    step: array = dataclasses.field(default_factory=lambda: array("d"))
    tokens: array = dataclasses.field(default_factory=lambda: array("d"))
    time: array = dataclasses.field(default_factory=lambda: array("d"))
    y: array = dataclasses.field(default_factory=lambda: array("d"))

    def add(self, step: float, tokens: float, seconds: float, y: float | None) -> None:
        if y is not None:
            self.step.append(step)
            self.tokens.append(tokens)
            self.time.append(seconds)
            self.y.append(y)

    def against(self, axis: str) -> tuple[array, array]:
        return getattr(self, axis), self.y


@dataclasses.dataclass
class RunCurves:
    loss: Curve
    eval_loss: Curve
    lr: Curve
    evals: list[dict]  # every eval event, oldest first
    tokens_per_s: float | None  # the last logged


def read_curves(record: RunRecord) -> RunCurves:
    """A run's curves, streamed from its events (a million events stay arrays, not dicts).
    Tokens seen at a step are the step times the run's tokens per step (its tokens/s over
    steps/s, constant for a run); seconds count from its first event."""
    curves = RunCurves(Curve(), Curve(), Curve(), [], None)
    tail, start, per_step = EventTail(record.run_dir.events_path), None, 0.0
    while True:
        events = tail.read(8 << 20)
        for event in events:
            start = event.get("t", 0.0) if start is None else start
            seconds = event.get("t", start) - start
            if event.get("kind") == "step":
                if event.get("tokens_per_s") and event.get("steps_per_s"):
                    per_step = event["tokens_per_s"] / event["steps_per_s"]
                    curves.tokens_per_s = event["tokens_per_s"]
                step = event["step"]
                curves.loss.add(step, step * per_step, seconds, event.get("loss"))
                curves.lr.add(step, step * per_step, seconds, event.get("lr"))
            elif event.get("kind") == "eval":
                step = event["step"]
                curves.eval_loss.add(step, step * per_step, seconds, event.get("loss"))
                curves.evals.append(event)
        if not tail.behind:
            return curves


def smoothed(values, weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the first
    points are not pulled toward zero. weight 0 leaves the values as they are."""
    if weight <= 0:
        return list(values)
    out, last = [], 0.0
    for n, value in enumerate(values, 1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**n))
    return out


def final_and_best(curves: RunCurves) -> dict:
    """The last train loss, and each evaluation metric's final and best value (with its
    step); best is the lowest loss or perplexity, the highest score."""
    summary = {"loss": curves.loss.y[-1] if curves.loss.y else None,
               "tokens_per_s": curves.tokens_per_s}  # fmt: skip
    for metric in ("loss", *SCORES):
        seen = [(e["step"], e[metric]) for e in curves.evals if e.get(metric) is not None]
        if not seen:
            continue
        pick = min if metric in LOWER_IS_BETTER else max
        best = pick(seen, key=lambda pair: pair[1])
        summary[f"eval_{metric}"] = seen[-1][1]
        summary[f"best_eval_{metric}"] = {"value": best[1], "step": best[0]}
    return summary


def summary_table(runs: list[tuple[str, str, dict]]) -> tuple[list[str], list[list[str]]]:
    """Heads and rows of (name, state, final_and_best) runs: the train loss, each evaluation
    metric any run has as its final and its best (with the step), tokens/s."""
    metrics = ["loss", *(m for m in SCORES if any(f"eval_{m}" in s for _, _, s in runs))]
    heads = ["run", "state", "train loss"]
    heads += [h for m in metrics for h in (f"eval {m}", f"best {m} (step)")] + ["tok/s"]
    rows = []
    for name, state, summary in runs:
        row = [name, state, _number(summary["loss"])]
        for metric in metrics:
            best = summary.get(f"best_eval_{metric}")
            row += [_number(summary.get(f"eval_{metric}")),
                    f"{_number(best['value'])} ({best['step']})" if best else "-"]  # fmt: skip
        tokens = summary["tokens_per_s"]
        rows.append(row + ["-" if tokens is None else f"{tokens:,.0f}"])
    return heads, rows


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def differing_settings(records: list[RunRecord]) -> dict[str, list]:
    """The spec settings whose values are not the same in every run (run order kept);
    output folders and run names differ by nature and are left out."""
    specs = []
    for record in records:
        try:
            specs.append(json.loads(record.run_dir.spec_path.read_text()))
        except (OSError, ValueError):
            specs.append({})
    names = sorted({name for spec in specs for name in spec} - {"output_dir", "run_name"})
    table = {name: [spec.get(name) for spec in specs] for name in names}
    return {
        name: values
        for name, values in table.items()
        if len({json.dumps(v, sort_keys=True) for v in values}) > 1
    }


def setting_lines(settings: dict[str, list]) -> list[str]:
    """ "learning_rate  0.003  |  0.01": a differing setting's values, in the runs' order."""
    width = max(map(len, settings), default=0)
    return [f"{name:<{width}}  " + "  |  ".join(json.dumps(v) for v in values)
            for name, values in settings.items()]  # fmt: skip


def comparison(records: list[RunRecord]) -> dict:
    """What `tpudeck compare --json` prints: each run's final and best figures, and the
    settings that differ."""
    return {
        "runs": [
            {"run_id": r.run_id, "state": r.state, **final_and_best(read_curves(r))}
            for r in records
        ],
        "differing_settings": differing_settings(records),
    }
