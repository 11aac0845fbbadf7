"""The text-classification demo: short reviews of the demo corpus's animals and places,
labelled positive or negative by the one judging word each holds, built offline.

Learnable in a minute by a tiny model on a CPU, not by counting words: both classes share
every other word, and the judging word sits anywhere in the sentence.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from .demo_corpus import ADJECTIVES, ANIMALS, NAMES, PLACES

_JUDGEMENTS = {
    "positive": ["wonderful", "delightful", "charming", "lovely", "excellent", "splendid"],
    "negative": ["dreadful", "boring", "awful", "gloomy", "terrible", "tiresome"],
}


def _review(rng: random.Random, label: str) -> str:
    name, animal, place = rng.choice(NAMES), rng.choice(ANIMALS), rng.choice(PLACES)
    word, adjective = rng.choice(_JUDGEMENTS[label]), rng.choice(ADJECTIVES)
    return rng.choice([
        f"{name} said the visit to the {place} with the {adjective} {animal} was {word}.",
        f"A {word} day: the {adjective} {animal} showed {name} the {place}.",
        f"The {place} was {word}, thought {name}, watching the {adjective} {animal}.",
    ])  # fmt: skip


def write_demo_reviews(path: str | Path, reviews: int = 2000, seed: int = 0) -> Path:
    """One {"sentence", "label"} row per line, half of each class; the same seed always
    gives the same file, which appears whole (temp file + rename)."""
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(reviews):
        label = ("positive", "negative")[i % 2]
        rows.append(json.dumps({"sentence": _review(rng, label), "label": label}))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(rows) + "\n")
    os.replace(tmp, path)
    return path
