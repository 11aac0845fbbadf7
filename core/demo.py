"""The embedded demo: a tiny GPT-2 on a corpus built offline, trained in minutes on a CPU."""

from __future__ import annotations

from .data.demo_corpus import write_demo_corpus
from .runs.home import tpudeck_home

# Values a user would otherwise pass as flags; flags given with --demo override them.
DEMO_SETTINGS = {
    "run_name": "demo-gpt2",
    "model_type": "gpt2",
    "model_size": "demo",
    "vocab_size": 512,
    "block_size": 64,
    "learning_rate": 3e-3,
    "warmup_steps": 30,
    "lr_schedule": "cosine",
    "max_steps": 600,
    "logging_steps": 10,
    "eval_steps": 100,
    "save_steps": 200,
    "dropout": 0.0,
}


def demo_settings() -> dict:
    """The demo's spec values, with its corpus written under $TPUDECK_HOME/demo if missing."""
    corpus = tpudeck_home() / "demo" / "stories.txt"
    if not corpus.exists():
        write_demo_corpus(corpus)
    return {**DEMO_SETTINGS, "train_file": str(corpus)}
