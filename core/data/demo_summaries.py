"""The summarization demo: stories of the demo corpus's kind, each with a one-sentence
summary of who found, carried or hid what where, built offline.

Learnable in minutes by a tiny T5 on a CPU: the summary copies four facts from the story,
in a fixed order, past the filler (days, counting, the other animal) around them.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from .demo_corpus import ADJECTIVES, ANIMALS, NAMES, PLACES

_THINGS = ["apple", "lantern", "map", "basket", "stone", "letter", "kite", "drum", "key"]
_DEEDS = ["found", "carried", "painted", "hid"]
_COUNT = ["one", "two", "three", "four", "five", "six"]


def _pair(rng: random.Random) -> dict:
    name, animal, other = rng.choice(NAMES), *rng.sample(ANIMALS, 2)
    place, thing, deed = rng.choice(PLACES), rng.choice(_THINGS), rng.choice(_DEEDS)
    adjective, counting = rng.choice(ADJECTIVES), " ".join(_COUNT[: rng.randrange(2, 6)])
    text = (
        f"{name} and the {adjective} {animal} walked to the {place} with a {other}. "
        f"{name} counted {counting} while the {other} slept. "
        f"Then the {animal} {deed} a {thing} near the {place}."
    )
    return {"text": text, "summary": f"The {animal} {deed} a {thing} in the {place}."}


def write_demo_summaries(path: str | Path, pairs: int = 3000, seed: int = 0) -> Path:
    """One {"text", "summary"} row per line; the same seed always gives the same file,
    which appears whole (temp file + rename)."""
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(json.dumps(_pair(rng)) for _ in range(pairs)) + "\n")
    os.replace(tmp, path)
    return path
