"""What a classifier head predicts, as HF configs say it: named classes (id2label), or one
regression score (num_labels 1, problem_type "regression"). Shared by every family with a
classification head; importable without jax."""

from __future__ import annotations

import dataclasses

REGRESSION = "regression"
SINGLE_LABEL = "single_label_classification"


@dataclasses.dataclass(frozen=True)
class ClassLabels:
    names: tuple[str, ...] = ()  # class names in label order; () means LABEL_0, LABEL_1
    regression: bool = False

    @property
    def count(self) -> int:
        """The classifier's outputs: one score for regression, else one per class (HF's
        default of two when a config names none)."""
        return 1 if self.regression else len(self.names) or 2

    @classmethod
    def from_hf(cls, values: dict) -> ClassLabels:
        table = values.get("id2label") or {}
        names = tuple(str(table[k]) for k in sorted(table, key=int))
        count = values.get("num_labels") or len(names) or 2
        kind = values.get("problem_type")
        # As transformers decides: one output and no problem type is a regression.
        if kind == REGRESSION or (kind is None and count == 1):
            return cls((), True)
        if len(names) != count:  # num_labels alone (or overriding a checkpoint's classes)
            names = tuple(f"LABEL_{i}" for i in range(count))
        return cls(names)

    def to_hf(self) -> dict:
        names = ("LABEL_0",) if self.regression else self.names or ("LABEL_0", "LABEL_1")
        return {
            "num_labels": self.count,
            "id2label": {str(i): name for i, name in enumerate(names)},
            "label2id": {name: i for i, name in enumerate(names)},
            "problem_type": REGRESSION if self.regression else SINGLE_LABEL,
        }


# The config keys ClassLabels.to_hf writes: what a recipe keeps over a checkpoint's config
# when it trains the head on its own data's classes.
HF_KEYS = ("num_labels", "id2label", "label2id", "problem_type")


class Labelled:
    """For family configs: a `labels` field read and written under HF's names, beside the
    config's other fields."""

    @classmethod
    def fields_from_hf(cls, values: dict, skip: tuple[str, ...] = ()) -> dict:
        """The dataclass fields found in HF `values` (unset ones keep their defaults), and
        `labels`; `skip` names fields the config reads itself."""
        names = {f.name for f in dataclasses.fields(cls)} - {"labels", *skip}
        found = {k: v for k, v in values.items() if k in names and v is not None}
        return {**found, "labels": ClassLabels.from_hf(values)}

    def hf_values(self) -> dict:
        """The config's fields under HF's names, the labels as id2label and friends."""
        fields = dataclasses.fields(self)
        own = {f.name: getattr(self, f.name) for f in fields if f.name != "labels"}
        return {**own, **self.labels.to_hf()}

    @property
    def num_labels(self) -> int:
        return self.labels.count

    @property
    def id2label(self) -> tuple[str, ...]:
        return self.labels.names
