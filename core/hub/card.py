"""The model card (README.md) pushed with a run: what was trained, on what, and how it went."""

from __future__ import annotations

import json

from ..errors import SpecError
from ..runs.events import last_event
from ..runs.rundir import RunDir


def model_card(run_dir: RunDir, repo_id: str) -> str:
    spec = json.loads(run_dir.spec_path.read_text())
    evals = run_dir.read_events("eval")
    last_step = last_event(run_dir.events_path, "step") or {}  # a tail read: saves stay quick
    metrics = [k for k in (evals[-1] if evals else {}) if k not in ("t", "kind", "step")]
    table = "\n".join(
        "| "
        + " | ".join([str(e["step"]), *(f"{e.get(k, float('nan')):.4f}" for k in metrics)])
        + " |"
        for e in evals
    )
    settings = "\n".join(f"- {k}: {v}" for k, v in sorted(spec.items()) if v is not None)
    final = f"{evals[-1]['loss']:.4f}" if evals else "n/a"
    return f"""---
library_name: transformers
{_widget(run_dir, spec)}tags:
- tpudeck
- flax
- {spec.get("model_type", "model")}
---

# {repo_id}

A {spec.get("model_type", "")} model ({spec.get("model_size", "")}) trained with tpudeck's pmap trainer
({spec.get("recipe", "")} recipe) on `{spec.get("train_dir") or spec.get("train_file") or ""}` for {last_step.get("step", 0)} steps.
Final evaluation loss: {final}. TensorBoard traces are under `runs/`.

## Evaluation

| step | {" | ".join(metrics)} |
|---|{"---|" * len(metrics)}
{table}

## Training settings

{settings}
"""


def _widget(run_dir: RunDir, spec: dict) -> str:
    """pipeline_tag and an example input from the run's own data, so that the Hub's
    inference widget runs the model (nothing where the export says no task)."""
    task = export_task(run_dir)
    if task is None:
        return ""
    text = example_text(run_dir, spec, task)
    if text is None:
        return f"pipeline_tag: {task}\n"
    return f"pipeline_tag: {task}\nwidget:\n- text: {json.dumps(text)}\n"


def export_task(run_dir: RunDir) -> str | None:
    """The task of the run's exported model, as the Hub's pipeline_tag names it (None
    before the first export)."""
    from ..trying.tasks import TASKS, family_and_head

    try:
        config = json.loads((run_dir.model_dir / "config.json").read_text())
        return TASKS[family_and_head(config, "the export")[1]]
    except (OSError, ValueError, SpecError):
        return None


def example_text(run_dir: RunDir, spec: dict, task: str) -> str | None:
    """An input for `task` from the run's own data: its first validation (else training)
    text, cut to a prompt for text generation, a word masked for fill-mask."""
    text = _example_text(spec)
    if not text or task == "image-classification":
        return None
    words = text.split()
    if task == "text-generation":
        return " ".join(words[:8])
    if task == "fill-mask":
        middle = len(words) // 2
        return " ".join([*words[:middle], _mask_token(run_dir), *words[middle + 1 :]])
    return text


def _example_text(spec: dict) -> str | None:
    """The first text of the run's validation (else training) file: a .txt line, or a JSON
    row's text column."""
    path = spec.get("validation_file") or spec.get("train_file")
    if not path or not str(path).endswith((".txt", ".json", ".jsonl")):
        return None
    try:
        with open(path) as f:
            line = next((row for row in f if row.strip()), "").strip()
        if not str(path).endswith(".txt"):
            row = json.loads(line)
            columns = (spec.get("text_column"), spec.get("sentence1_column"), "sentence")
            line = next((row[c] for c in columns if c in row), "")
    except (OSError, ValueError, AttributeError):
        return None
    return " ".join(str(line).split()[:60]) or None


def _mask_token(run_dir: RunDir) -> str:
    try:
        config = json.loads((run_dir.model_dir / "tokenizer_config.json").read_text())
        token = config.get("mask_token", "<mask>")
        return token.get("content", "<mask>") if isinstance(token, dict) else str(token)
    except (OSError, ValueError):
        return "<mask>"
