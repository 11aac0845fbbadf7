"""ViT's configuration, sizes and descriptor, importable without jax (the UI estimates with it)."""

from __future__ import annotations

import dataclasses

from ..errors import SpecError
from .descriptor import FamilyDescriptor, check_activation, check_width_and_heads
from .labels import ClassLabels, Labelled

# Named sizes (HF ViTConfig names); num_labels comes from the image folder's classes.
_PATCH16 = {"image_size": 224, "patch_size": 16}
SIZES = {
    "demo": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 128, "image_size": 32, "patch_size": 8},
    "tiny": {"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3,
             "intermediate_size": 768, **_PATCH16},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
              "intermediate_size": 1536, **_PATCH16},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, **_PATCH16},
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ViTConfig(Labelled):
    """The subset of transformers' ViTConfig that determines the computation."""

    dropout_fields = ("hidden_dropout_prob", "attention_probs_dropout_prob")

    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-12
    qkv_bias: bool = True
    initializer_range: float = 0.02
    hidden_act: str = "gelu"
    labels: ClassLabels = ClassLabels()  # the classes, from the image folder's subfolders

    @classmethod
    def from_hf(cls, values: dict) -> ViTConfig:
        return cls(**cls.fields_from_hf(values))

    def to_hf(self) -> dict:
        return {
            "model_type": "vit",
            "architectures": ["ViTForImageClassification"],
            **self.hf_values(),
        }

    @property
    def patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def param_count(self, head: str = "image_classification") -> int:
        d, f, p = self.hidden_size, self.intermediate_size, self.patch_size
        per_layer = 4 * d + 4 * (d * d + d) + (d * f + f) + (f * d + d)
        embeddings = (p * p * self.num_channels * d + d) + d + (self.patches + 1) * d
        return (
            self.num_hidden_layers * per_layer
            + embeddings
            + 2 * d
            + d * self.num_labels
            + self.num_labels
        )

    def largest_weight(self, head: str = "image_classification") -> int:
        patch = self.patch_size**2 * self.num_channels
        return self.hidden_size * max(self.intermediate_size, patch, self.patches + 1)

    def flops_per_example(self, tokens: int, head: str = "image_classification") -> float:
        """Training FLOPs per image: 6N per token over patches + CLS, plus attention."""
        attention = 12 * self.num_hidden_layers * self.hidden_size * tokens
        return tokens * (6 * self.param_count() + attention)

    @property
    def positions(self) -> int:
        return self.patches + 1  # patches and the CLS token

    def check(self) -> None:
        if self.image_size % self.patch_size:
            raise SpecError(
                f"image_size {self.image_size} is not a multiple of the patch size "
                f"{self.patch_size}: change --image_size (or the config's image_size)"
            )
        check_width_and_heads(self.hidden_size, self.num_attention_heads)
        check_activation("vit", "hidden_act", self.hidden_act)

    def example_name(self, tokens: int) -> str:
        return f"{self.image_size}x{self.image_size} images"


VIT = FamilyDescriptor(
    "vit", ViTConfig, SIZES, {"image_classification": "ViTForImageClassification"}, "vit:BINDING"
)
