"""Which files make a tokenizer directory, without importing the tokenizers library (spec
validation and the app read these)."""

from __future__ import annotations

from pathlib import Path

# What a tokenizer directory holds for AutoTokenizer (a checkpoint's other files stay).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
# What a checkpoint without a tokenizer.json may carry instead (transformers' slow tokenizers)
SLOW_TOKENIZER_FILES = ("vocab.json", "merges.txt", "vocab.txt", "spiece.model",
                        "sentencepiece.bpe.model")  # fmt: skip


def slow_files(directory: str | Path) -> list[str]:
    """The slow tokenizer files of a directory that has no tokenizer.json."""
    if Path(directory, "tokenizer.json").is_file():
        return []
    return [n for n in SLOW_TOKENIZER_FILES if Path(directory, n).is_file()]
