"""Labelled sentences and sentence pairs for text classification, chosen as
run_flax_glue.py chooses them, and checked before the accelerator is taken.

Columns: --sentence1_column/--sentence2_column, else "sentence1"/"sentence2", else the first
one or two text columns other than the label. Labels: strings or integers are classes
(sorted, or a saved dataset's ClassLabel names), floats a regression score.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DataError
from .text_files import load_tables, require_column


@dataclasses.dataclass
class Examples:
    firsts: list[str]
    seconds: list[str] | None  # the pairs' second sentences; None for single sentences
    labels: np.ndarray  # class ids (int32) or scores (float32)

    def __len__(self) -> int:
        return len(self.firsts)

    def subset(self, rows) -> Examples:
        pick = [self.firsts[i] for i in rows]
        seconds = None if self.seconds is None else [self.seconds[i] for i in rows]
        return Examples(pick, seconds, self.labels[rows])


@dataclasses.dataclass
class LabelledText:
    train: Examples
    eval: Examples
    columns: tuple[str, ...]  # the text columns read: one, or two for pairs
    classes: tuple[str, ...]  # label names in id order; () for a regression

    @property
    def regression(self) -> bool:
        return not self.classes

    @property
    def summary(self) -> str:
        what = (
            "scores" if self.regression else f"{len(self.classes)} classes ({_few(self.classes)})"
        )
        return (
            f"{len(self.train)} training and {len(self.eval)} validation examples of "
            f"{' + '.join(self.columns)} with {what}"
        )


def load_labelled_splits(spec) -> LabelledText:
    tables = load_tables(spec)
    train_ds, source = tables.train, tables.train_source
    columns = _text_columns(spec, train_ds)
    regression = _is_regression(train_ds, spec.label_column)
    classes = () if regression else _classes(train_ds, spec.label_column, source)
    train = _examples(train_ds, columns, spec.label_column, classes, source)
    if tables.eval is None:
        return LabelledText(*_hold_out(train, spec, source), columns, classes)
    eval_ds, eval_source = tables.eval, tables.eval_source
    for column in (*columns, spec.label_column):
        require_column(eval_ds, column, *eval_source, _column_flag(spec, column))
    if not regression:
        _check_known_labels(eval_ds, spec.label_column, classes, eval_source)
    return LabelledText(
        train, _examples(eval_ds, columns, spec.label_column, classes, eval_source), columns,
        classes,
    )  # fmt: skip


def _text_columns(spec, ds) -> tuple[str, ...]:
    path = spec.train_file
    require_column(ds, spec.label_column, path, "train_file", "label_column")
    if spec.sentence1_column:
        columns = (spec.sentence1_column, spec.sentence2_column)
    elif "sentence1" in ds.column_names:
        second = "sentence2" if "sentence2" in ds.column_names else None
        columns = ("sentence1", spec.sentence2_column or second)
    else:
        texts = [c for c in ds.column_names if c != spec.label_column and _is_text(ds, c)]
        if not texts:
            raise DataError(
                f"--train_file {path} has no text column besides the label "
                f"{spec.label_column!r} (columns: {', '.join(ds.column_names)}); "
                "pass --sentence1_column NAME"
            )
        columns = (texts[0], spec.sentence2_column or (texts[1] if len(texts) > 1 else None))
    columns = tuple(c for c in columns if c)
    for column in columns:
        require_column(ds, column, path, "train_file", _column_flag(spec, column))
    return columns


def _column_flag(spec, column: str) -> str:
    if column == spec.label_column:
        return "label_column"
    return "sentence2_column" if column == spec.sentence2_column else "sentence1_column"


def _is_text(ds, column: str) -> bool:
    feature = ds.features[column]
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _is_regression(ds, label: str) -> bool:
    return getattr(ds.features[label], "dtype", None) in ("float16", "float32", "float64")


def _classes(ds, label: str, source) -> tuple[str, ...]:
    # A ClassLabel (GLUE's saved datasets) names its classes; else the values, sorted.
    names = getattr(ds.features[label], "names", None)
    names = names or [str(v) for v in sorted({v for v in ds[label] if v is not None})]
    if len(names) < 2:
        raise DataError(
            f"--{source[1]} {source[0]} has {len(names)} class(es) in column {label!r} "
            f"({_few(names) or 'none'}): a classifier needs two or more; add examples of "
            "another class"
        )
    return tuple(names)


def _check_known_labels(ds, label: str, classes: tuple[str, ...], source) -> None:
    feature = ds.features[label]
    if getattr(feature, "names", None):
        unknown = sorted(set(feature.names) - set(classes))
    else:
        unknown = sorted({str(v) for v in ds[label] if v is not None} - set(classes))
    if unknown:
        raise DataError(
            f"--{source[1]} {source[0]} has label(s) {_few(unknown)} that the training data "
            f"lacks (it has {_few(classes)}); add them to the training data or drop those rows"
        )


def _examples(ds, columns, label: str, classes, source) -> Examples:
    ids = {name: i for i, name in enumerate(classes)}
    named = bool(getattr(ds.features[label], "names", None))
    rows = zip(*(ds[c] for c in columns), ds[label], strict=True)
    firsts, seconds, labels = [], [], []
    for *texts, value in rows:
        if value is None or not all(isinstance(t, str) for t in texts) or not texts[0].strip():
            continue  # rows without text or label, as datasets' filters drop them
        firsts.append(texts[0])
        seconds.append(texts[1] if len(texts) > 1 else "")
        labels.append(ids[str(value)] if classes and not named else value)
    if not firsts:
        raise DataError(
            f"--{source[1]} {source[0]} has no row with text in {' and '.join(columns)} and a "
            f"label; add data to it"
        )
    dtype = np.float32 if not classes else np.int32
    return Examples(firsts, seconds if len(columns) > 1 else None, np.asarray(labels, dtype))


def _hold_out(train: Examples, spec, source) -> tuple[Examples, Examples]:
    """A seeded share of the training rows (shuffled: labelled files are often sorted)."""
    cut = max(1, len(train) * spec.validation_split_percentage // 100)
    if cut >= len(train):
        raise DataError(
            f"--{source[1]} {source[0]} has {len(train)} examples, too few to hold out "
            "a validation split; add data or pass --validation_file"
        )
    order = np.random.default_rng(spec.seed).permutation(len(train))
    return train.subset(order[cut:]), train.subset(order[:cut])


def _few(names, limit: int = 5) -> str:
    names = list(names)
    shown = ", ".join(repr(n) if isinstance(n, str) else str(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
