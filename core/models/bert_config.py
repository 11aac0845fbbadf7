"""BERT's and RoBERTa's configurations, sizes and descriptors, importable without jax (the
UI estimates with them)."""

from __future__ import annotations

import dataclasses

from .descriptor import (
    FamilyDescriptor,
    TokenExamples,
    check_activation,
    check_width_and_heads,
    refuse,
)
from .labels import ClassLabels, Labelled

# Named sizes (HF BertConfig names; demo for CPU, the rest as Google's BERT releases).
BERT_SIZES = {
    "demo": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 128, "max_position_embeddings": 128},
    "tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 512, "max_position_embeddings": 512},
    "small": {"hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8,
              "intermediate_size": 2048, "max_position_embeddings": 512},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512},
}  # fmt: skip

# RoBERTa's sizes are BERT's, with two more positions: its count starts after the pad id.
ROBERTA_SIZES = {
    name: {**size, "max_position_embeddings": size["max_position_embeddings"] + 2}
    for name, size in BERT_SIZES.items()
}


@dataclasses.dataclass(frozen=True)
class BertConfig(TokenExamples, Labelled):
    """The subset of transformers' BertConfig that determines the computation."""

    dropout_fields = ("hidden_dropout_prob", "attention_probs_dropout_prob")

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    hidden_act: str = "gelu"
    classifier_dropout: float | None = None  # None: the classifier drops as hidden layers do
    position_embedding_type: str = "absolute"  # the others are refused
    is_decoder: bool = False  # refused: an encoder only
    add_cross_attention: bool = False  # refused
    labels: ClassLabels = ClassLabels()

    @classmethod
    def from_hf(cls, values: dict) -> BertConfig:
        return cls(**cls.fields_from_hf(values))

    model_type = "bert"
    architecture = "BertForMaskedLM"

    def to_hf(self) -> dict:
        return {
            "model_type": self.model_type,
            "architectures": [self.architecture],
            **self.hf_values(),
        }

    def param_count(self, head: str = "masked_lm") -> int:
        d, f, v = self.hidden_size, self.intermediate_size, self.vocab_size
        per_layer = 4 * (d * d + d) + 2 * 2 * d + (d * f + f) + (f * d + d)
        embeddings = (v + self.max_position_embeddings + self.type_vocab_size) * d + 2 * d
        if head == "masked_lm":  # transform, its norm, the output bias (tied decoder)
            top = (d * d + d) + 2 * d + v
        else:  # BERT's pooler or RoBERTa's dense layer, then the classifier
            top = (d * d + d) + (d * self.num_labels + self.num_labels)
        return self.num_hidden_layers * per_layer + embeddings + top

    def largest_weight(self, head: str = "masked_lm") -> int:
        positions = max(self.vocab_size, self.max_position_embeddings)
        return self.hidden_size * max(positions, self.intermediate_size)

    def flops_per_token(self, seq_len: int, head: str = "masked_lm") -> float:
        d, v = self.hidden_size, self.vocab_size
        lookups = (v + self.max_position_embeddings + self.type_vocab_size) * d
        decoder = v * d if head == "masked_lm" else 0  # tied to the word embeddings
        n = self.param_count(head) - lookups + decoder
        return 6 * n + 12 * self.num_hidden_layers * d * seq_len

    @property
    def positions(self) -> int:
        return self.max_position_embeddings

    @property
    def classifier_rate(self) -> float:
        """The classification head's dropout, as transformers picks it."""
        if self.classifier_dropout is None:
            return self.hidden_dropout_prob
        return self.classifier_dropout

    def check(self) -> None:
        check_width_and_heads(self.hidden_size, self.num_attention_heads)
        check_activation(self.model_type, "hidden_act", self.hidden_act)
        if self.position_embedding_type != "absolute":
            refuse(self.model_type, "position_embedding_type", self.position_embedding_type,
                   "use a config with absolute position embeddings")  # fmt: skip
        for flag in ("is_decoder", "add_cross_attention"):
            if getattr(self, flag):
                refuse(self.model_type, flag, True, f"an encoder only; set {flag} false")


@dataclasses.dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """RoBERTa is BERT with other defaults, one token type, and positions that start after
    the padding id (padding itself sits at position pad_token_id), as HF computes them."""

    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1

    model_type = "roberta"
    architecture = "RobertaForMaskedLM"

    @property
    def positions(self) -> int:
        return self.max_position_embeddings - self.pad_token_id - 1


def _heads(prefix: str) -> dict:
    return {"masked_lm": f"{prefix}ForMaskedLM",
            "sequence_classification": f"{prefix}ForSequenceClassification"}  # fmt: skip


BERT = FamilyDescriptor("bert", BertConfig, BERT_SIZES, _heads("Bert"), "bert:BERT_BINDING")
ROBERTA = FamilyDescriptor(
    "roberta", RobertaConfig, ROBERTA_SIZES, _heads("Roberta"), "bert:ROBERTA_BINDING"
)
