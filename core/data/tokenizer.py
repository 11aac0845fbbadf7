"""Tokenizers: load a local HF tokenizer dir or train a byte-level BPE one on the data.

Uses the `tokenizers` library directly (no transformers import in the trainer); the files
written are the ones transformers' AutoTokenizer reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

from ..errors import DataError

EOS = "<|endoftext|>"


def train_byte_level_bpe(
    texts: Iterable[str], vocab_size: int, out_dir: Path, max_len: int
) -> Tokenizer:
    """Train GPT-2 style byte-level BPE (as the HF Flax examples' README does) and save it."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    save_tokenizer(bpe._tokenizer, out_dir, max_len)
    return bpe._tokenizer


def save_tokenizer(tokenizer: Tokenizer, out_dir: Path, max_len: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "bos_token": EOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "model_max_length": max_len,
        "add_prefix_space": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    special = {"bos_token": EOS, "eos_token": EOS, "unk_token": EOS}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def load_tokenizer(directory: str | Path) -> Tokenizer:
    path = Path(directory, "tokenizer.json")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust library raises a bare Exception on bad files
        raise DataError(
            f"{path} is not a valid tokenizer ({exc}); pass another --tokenizer_name"
        ) from None


def eos_id(tokenizer: Tokenizer) -> int:
    """The document separator: GPT-2's <|endoftext|>, else the tokenizer's eos/sep token."""
    for token in (EOS, "</s>", "[SEP]", "<eos>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token_id
    raise DataError("the tokenizer has no end-of-text token (<|endoftext|> or </s>); add one")
