"""Llama's configuration, sizes and descriptor, importable without jax (the UI estimates with it).

Llama and the decoders built like it: RoPE (with Llama 3's and linear scaling), RMSNorm,
SwiGLU, grouped-query attention, tied or untied embeddings, optional attention and MLP
biases. Config names are transformers' LlamaConfig's; RoPE settings are read from
`rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` (older checkpoints).
"""

from __future__ import annotations

import dataclasses

from ..errors import SpecError
from .descriptor import (
    ATTENTION_IMPLEMENTATIONS,
    FamilyDescriptor,
    TokenExamples,
    check_width_and_heads,
)
from .labels import ClassLabels, Labelled

# Named sizes; vocab_size comes from the tokenizer. 1b is Llama 3.2 1B's shape.
SIZES = {
    "demo": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128},
    "tiny": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
             "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 512},
    "small": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
              "num_attention_heads": 12, "num_key_value_heads": 4,
              "max_position_embeddings": 2048},
    "1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
           "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
           "rope_theta": 500000.0, "tie_word_embeddings": True,
           "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
}  # fmt: skip

ROPE_TYPES = ("default", "linear", "llama3")  # the others change with the sequence length


@dataclasses.dataclass(frozen=True)
class LlamaConfig(TokenExamples, Labelled):
    """The subset of transformers' LlamaConfig that determines the computation."""

    dropout_fields = ("attention_dropout",)

    vocab_size: int
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # None: as many as query heads (no GQA)
    head_dim: int | None = None  # None: hidden_size / num_attention_heads
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # {"rope_type": "llama3" | "linear", its parameters}
    attention_bias: bool = False
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    hidden_act: str = "silu"
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    pad_token_id: int | None = None  # a classifier reads the last token before padding
    labels: ClassLabels = ClassLabels()
    # How attention is computed (ATTENTION_IMPLEMENTATIONS); not a property of the weights,
    # so not written to config.json. Set it in a --config_name file.
    attn_implementation: str = "auto"

    @classmethod
    def from_hf(cls, values: dict) -> LlamaConfig:
        rope = dict(values.get("rope_parameters") or values.get("rope_scaling") or {})
        theta = rope.pop("rope_theta", values.get("rope_theta", cls.rope_theta))
        kind = rope.pop("rope_type", rope.pop("type", "default"))
        return cls(
            rope_theta=theta,
            rope_scaling=None if kind == "default" else {"rope_type": kind, **rope},
            **cls.fields_from_hf(values, skip=("rope_theta", "rope_scaling")),
        )

    model_type = "llama"
    architecture = "LlamaForCausalLM"

    @property
    def qkv_bias(self) -> bool:
        return self.attention_bias

    @property
    def output_bias(self) -> bool:
        return self.attention_bias

    def to_hf(self) -> dict:
        values = self.hf_values()
        values.pop("attn_implementation")
        rope = {"rope_type": "default", **(values.pop("rope_scaling") or {})}
        rope["rope_theta"] = values.pop("rope_theta")
        return {
            "model_type": self.model_type,
            "architectures": [self.architecture],
            **values,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_width,
            "rope_parameters": rope,
        }

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def head_width(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def param_count(self, head: str = "causal_lm") -> int:
        d, f, v = self.hidden_size, self.intermediate_size, self.vocab_size
        q, kv = self.num_attention_heads * self.head_width, self.kv_heads * self.head_width
        attention = d * (q + 2 * kv) + q * d + self.qkv_bias * (q + 2 * kv) + self.output_bias * d
        mlp = 3 * d * f + self.mlp_bias * (2 * f + d)
        per_layer = attention + mlp + 2 * d  # and its two RMSNorms
        if head == "causal_lm":
            top = 0 if self.tie_word_embeddings else v * d
        else:  # the score layer, without bias
            top = d * self.num_labels
        return v * d + self.num_hidden_layers * per_layer + d + top

    def largest_weight(self, head: str = "causal_lm") -> int:
        q = self.num_attention_heads * self.head_width
        return self.hidden_size * max(self.vocab_size, self.intermediate_size, q)

    def flops_per_token(self, seq_len: int, head: str = "causal_lm") -> float:
        embedding = self.vocab_size * self.hidden_size
        tied_head = embedding if head == "causal_lm" and self.tie_word_embeddings else 0
        n = self.param_count(head) - embedding + tied_head
        attention = 12 * self.num_hidden_layers * self.num_attention_heads * self.head_width
        return 6 * n + attention * seq_len

    @property
    def positions(self) -> int:
        return self.max_position_embeddings

    def check(self) -> None:
        if self.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise SpecError(
                f"the model config's attn_implementation {self.attn_implementation!r} is not "
                f"one of: {', '.join(ATTENTION_IMPLEMENTATIONS)}"
            )
        if self.hidden_act != "silu":
            raise SpecError(
                f"the model config's hidden_act {self.hidden_act!r} is not supported for llama "
                "(silu only): use a config with hidden_act silu"
            )
        kind = (self.rope_scaling or {}).get("rope_type", "default")
        if kind not in ROPE_TYPES:
            raise SpecError(
                f"the model config's rope type {kind!r} is not supported for llama (only "
                f"{', '.join(ROPE_TYPES)}): use a config without it"
            )
        if self.head_dim is None:
            check_width_and_heads(self.hidden_size, self.num_attention_heads)
        if self.num_attention_heads % self.kv_heads:
            raise SpecError(
                f"the model config's {self.num_attention_heads} attention heads must be a "
                f"multiple of its {self.kv_heads} key/value heads"
            )


LLAMA = FamilyDescriptor(
    "llama",
    LlamaConfig,
    SIZES,
    {"causal_lm": "LlamaForCausalLM", "sequence_classification": "LlamaForSequenceClassification"},
    "llama:BINDING",
)
