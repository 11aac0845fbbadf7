"""Texts and their summaries for summarization, chosen as run_summarization_flax.py chooses
them, and encoded to fixed lengths (one compiled step) with the run's tokenizer.

Columns: --text_column (its default "text", else the first column) and --summary_column
(default "summary", else the next column). Rows with either empty are dropped.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tokenizers import Tokenizer

from ..errors import DataError
from .text_files import load_tables, require_column

DEFAULT_TEXT_COLUMN = "text"  # RunSpec's, shared with the language-model recipes


@dataclasses.dataclass
class Pairs:
    texts: list[str]
    summaries: list[str]


@dataclasses.dataclass
class Summaries:
    train: Pairs
    eval: Pairs
    columns: tuple[str, str]  # (text, summary)

    @property
    def summary(self) -> str:
        return (
            f"{len(self.train.texts)} training and {len(self.eval.texts)} validation texts "
            f"({self.columns[0]}) with summaries ({self.columns[1]})"
        )


def load_summary_splits(spec) -> Summaries:
    tables = load_tables(spec)
    columns = _columns(spec, tables.train, tables.train_source)
    train = _pairs(tables.train, columns, tables.train_source)
    if tables.eval is None:
        cut = max(1, len(train.texts) * spec.validation_split_percentage // 100)
        if cut >= len(train.texts):
            location, flag = tables.train_source
            raise DataError(
                f"--{flag} {location} has {len(train.texts)} texts, too few to hold out a "
                "validation split; add data or pass --validation_file"
            )
        held = Pairs(train.texts[:cut], train.summaries[:cut])
        return Summaries(Pairs(train.texts[cut:], train.summaries[cut:]), held, columns)
    for column, flag in zip(columns, ("text_column", "summary_column"), strict=True):
        require_column(tables.eval, column, *tables.eval_source, flag)
    return Summaries(train, _pairs(tables.eval, columns, tables.eval_source), columns)


def _columns(spec, ds, source) -> tuple[str, str]:
    names = ds.column_names
    text = spec.text_column
    if text == DEFAULT_TEXT_COLUMN and text not in names and names:
        text = names[0]  # the script's default: the first column
    require_column(ds, text, *source, "text_column")
    summary = spec.summary_column or ("summary" if "summary" in names else None)
    if summary is None:
        others = [n for n in names if n != text]
        if not others:
            raise DataError(
                f"--{source[1]} {source[0]} has no summary column (columns: "
                f"{', '.join(names)}); add one or pass --summary_column NAME"
            )
        summary = others[0]
    require_column(ds, summary, *source, "summary_column")
    return text, summary


def _pairs(ds, columns, source) -> Pairs:
    texts, summaries = [], []
    for row in ds.select_columns(list(columns)):
        text, summary = (row[c] for c in columns)
        if isinstance(text, str) and text.strip() and isinstance(summary, str) and summary.strip():
            texts.append(text)
            summaries.append(summary)
    if not texts:
        raise DataError(
            f"--{source[1]} {source[0]} has no row with text in both {columns[0]!r} and "
            f"{columns[1]!r}; add data to it"
        )
    return Pairs(texts, summaries)


def encode(tokenizer: Tokenizer, texts: list[str], length: int, pad_id: int):
    """(ids [N, length], mask [N, length]): each text with the tokenizer's special tokens
    (T5's </s>), truncated to `length` (the special tokens kept) and padded after."""
    fixed = Tokenizer.from_str(tokenizer.to_str())  # the run's tokenizer keeps no lengths
    fixed.enable_truncation(length)
    fixed.enable_padding(length=length, pad_id=pad_id)
    encodings = fixed.encode_batch(texts)
    ids = np.asarray([e.ids for e in encodings], np.int32)
    return ids, np.asarray([e.attention_mask for e in encodings], np.int32)
