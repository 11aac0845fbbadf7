"""The embedded demo corpus: short stories made from a small grammar, built offline.

Regular enough that a tiny GPT-2 visibly learns it in minutes on a CPU, varied enough
that the loss does not collapse to zero.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

NAMES = ["Ada", "Boris", "Chen", "Dana", "Emil", "Fatima", "Goro", "Hana", "Ivan", "Juno"]
ANIMALS = ["cat", "dog", "fox", "owl", "horse", "rabbit", "goose", "otter", "badger", "crow"]
ADJECTIVES = ["small", "brave", "sleepy", "clever", "quiet", "old", "young", "curious", "happy"]
PLACES = ["forest", "garden", "river", "village", "hill", "kitchen", "market", "harbour"]
_OBJECTS = ["apple", "lantern", "map", "basket", "stone", "letter", "kite", "drum", "key"]
_VERBS = [("found", "lost"), ("carried", "dropped"), ("painted", "washed"), ("hid", "showed")]
_NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _story(rng: random.Random) -> str:
    name, animal, adj = rng.choice(NAMES), rng.choice(ANIMALS), rng.choice(ADJECTIVES)
    place, obj = rng.choice(PLACES), rng.choice(_OBJECTS)
    verb, undo = rng.choice(_VERBS)
    day = rng.randrange(len(_DAYS))
    count = rng.randrange(2, 8)
    counting = " ".join(_NUMBERS[:count])
    return (
        f"On {_DAYS[day]} {name} and the {adj} {animal} went to the {place}. "
        f"There the {animal} {verb} a {obj}, and {name} counted {counting}. "
        f"On {_DAYS[(day + 1) % 7]} the {animal} {undo} the {obj} in the {place} again."
    )


def write_demo_corpus(path: str | Path, stories: int = 4000, seed: int = 0) -> Path:
    """Write one story per line; the same seed always gives the same file.

    The file appears whole (temp file + rename): concurrent demo launches read it at once.
    """
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(_story(rng) for _ in range(stories)) + "\n")
    os.replace(tmp, path)
    return path
