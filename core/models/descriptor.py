"""A model family described without jax: what spec checks, recipes, the Launch form and
estimates know of a family, so that none of them names one.

A family is its config file (`*_config.py`: the config class, named sizes and this
descriptor; no jax), its Flax file (modules by head and HF tensor names, loaded only when
a model is built) and one line in registry.py.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol

from ..errors import SpecError

# How attention is computed: "eager" is attention.attend (einsum, softmax in float32);
# "sdpa" jax.nn.dot_product_attention (XLA; grouped keys without copies); "cudnn" its
# cuDNN flash-attention kernel (GPU, bfloat16 or float16 only); "auto" cuDNN where it runs,
# else eager. On an H100 in bfloat16 a Llama step ran cuDNN 1.6x eager's tokens/s and
# XLA's sdpa 0.67x (bench/train_throughput.py --platform gpu).
ATTENTION_IMPLEMENTATIONS = ("auto", "eager", "sdpa", "cudnn")


# transformers' activation names (ACT2FN) that the families implement, with parity.
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish")


def check_activation(family: str, field: str, name: str) -> None:
    if name not in ACTIVATIONS:
        raise SpecError(
            f"the model config's {field} {name!r} is not supported for {family} (only "
            f"{', '.join(ACTIVATIONS)}): use a config with one of those"
        )


def refuse(family: str, field: str, value, fix: str) -> None:
    """A config option the family does not implement: one line, never silently ignored."""
    raise SpecError(f"the model config's {field} {value!r} is not supported for {family}: {fix}")


class ModelConfig(Protocol):
    """What every family's config offers; the values are HF config.json names."""

    dropout_fields: ClassVar[tuple[str, ...]]  # set from --dropout

    @classmethod
    def from_hf(cls, values: dict) -> ModelConfig: ...

    def to_hf(self) -> dict: ...

    def param_count(self, head: str = ...) -> int:
        """Parameters of the model with `head` (the family's first when not named)."""

    def largest_weight(self, head: str = ...) -> int:
        """Parameters of the model's largest single weight (an embedding, mostly): the
        sharded step makes each weight's gradient whole before splitting it."""

    def flops_per_example(self, tokens: int, head: str = ...) -> float:
        """Training FLOPs of one example of `tokens` tokens (patches for images) through
        the model with `head` (the family's first when not named)."""

    @property
    def positions(self) -> int:
        """The most tokens one example may have."""

    def check(self) -> None:
        """SpecError naming the first setting that cannot work."""

    def example_name(self, tokens: int) -> str:
        """What one example of `tokens` tokens is, for people: "128 tokens", "224x224 images"."""


class TokenExamples:
    """For text families' configs: an example is `tokens` tokens, each costing
    flops_per_token(tokens, head) to train: 6 FLOPs per weight that multiplies (embedding
    lookups do not; a tied LM head does) plus attention (PaLM, appendix B)."""

    def flops_per_example(self, tokens: int, head: str | None = None) -> float:
        return self.flops_per_token(tokens, *(head,) if head else ()) * tokens

    def example_name(self, tokens: int) -> str:
        return f"{tokens} tokens"


@dataclasses.dataclass(frozen=True)
class FamilyDescriptor:
    name: str
    config_cls: type
    sizes: dict[str, dict]  # named sizes in HF config names, smallest first
    # The tasks it has a head for ("causal_lm", "masked_lm", "sequence_classification", ...),
    # each with its transformers class, written as the export's architecture; first: default.
    heads: dict[str, str]
    flax: str  # "module:ATTRIBUTE" under tpudeck.core.models of its FlaxBinding
    # Why --scan_layers cannot run its layers as one loop (they differ); "" where it can.
    layers_differ: str = ""

    def config(self, values: dict, dropout: float | None = None) -> ModelConfig:
        """The family's config from HF values, with --dropout on every dropout field."""
        rates = {} if dropout is None else dict.fromkeys(self.config_cls.dropout_fields, dropout)
        return self.config_cls.from_hf({**values, **rates})


def check_width_and_heads(width: int, heads: int) -> None:
    """The check every attention family shares."""
    if width % heads:
        raise SpecError(f"the model config's width {width} must be divisible by its {heads} heads")
