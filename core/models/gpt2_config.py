"""GPT-2's configuration and size arithmetic, importable without jax (the UI estimates with it)."""

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

# Named sizes in HF config names; vocab_size comes from the tokenizer.
SIZES = {
    "demo": {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128},
    "tiny": {"n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 256},
    "small": {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},
    "medium": {"n_embd": 1024, "n_layer": 24, "n_head": 16, "n_positions": 1024},
    "large": {"n_embd": 1280, "n_layer": 36, "n_head": 20, "n_positions": 1024},
    "xl": {"n_embd": 1600, "n_layer": 48, "n_head": 25, "n_positions": 1024},
}


@dataclasses.dataclass(frozen=True)
class GPT2Config(TokenExamples, Labelled):
    """The subset of transformers' GPT2Config that determines the computation."""

    dropout_fields = ("resid_pdrop", "embd_pdrop", "attn_pdrop")

    vocab_size: int
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    layer_norm_epsilon: float = 1e-5
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None  # a classifier reads the last token before padding
    activation_function: str = "gelu_new"
    scale_attn_weights: bool = True  # False is refused
    scale_attn_by_inverse_layer_idx: bool = False  # True is refused
    labels: ClassLabels = ClassLabels()

    @classmethod
    def from_hf(cls, values: dict) -> GPT2Config:
        return cls(**cls.fields_from_hf(values))

    def to_hf(self) -> dict:
        return {
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            **self.hf_values(),
        }

    @property
    def inner_size(self) -> int:
        return self.n_inner or 4 * self.n_embd

    def param_count(self, head: str = "causal_lm", include_embeddings: bool = True) -> int:
        d, f = self.n_embd, self.inner_size
        per_layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        embeddings = (self.vocab_size + self.n_positions) * d if include_embeddings else 0
        score = 0 if head == "causal_lm" else d * self.num_labels  # the LM head is tied
        return self.n_layer * per_layer + 2 * d + embeddings + score

    def largest_weight(self, head: str = "causal_lm") -> int:
        d = self.n_embd
        return max(self.vocab_size * d, self.n_positions * d, 3 * d * d, d * self.inner_size)

    def flops_per_token(self, seq_len: int, head: str = "causal_lm") -> float:
        lm_head = self.vocab_size * self.n_embd if head == "causal_lm" else 0  # tied to wte
        n = self.param_count(head, include_embeddings=False) + lm_head
        return 6 * n + 12 * self.n_layer * self.n_embd * seq_len

    @property
    def positions(self) -> int:
        return self.n_positions

    def check(self) -> None:
        check_width_and_heads(self.n_embd, self.n_head)
        check_activation("gpt2", "activation_function", self.activation_function)
        if not self.scale_attn_weights:
            refuse("gpt2", "scale_attn_weights", False, "use a config with it true")
        if self.scale_attn_by_inverse_layer_idx:
            refuse("gpt2", "scale_attn_by_inverse_layer_idx", True, "use a config with it false")


GPT2 = FamilyDescriptor(
    "gpt2",
    GPT2Config,
    SIZES,
    {"causal_lm": "GPT2LMHeadModel", "sequence_classification": "GPT2ForSequenceClassification"},
    "gpt2:BINDING",
)
