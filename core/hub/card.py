"""The model card (README.md) pushed with a run: what was trained, on what, and how it went."""

from __future__ import annotations

import json

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
tags:
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
