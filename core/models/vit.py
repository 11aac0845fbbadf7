"""ViT for image classification in Flax linen, named module by module after HF's
ViTForImageClassification so parameters map one to one (NAMES; kernels are transposed
for PyTorch by naming's layout functions).

Images come in channels-last, [B, H, W, C], as Flax convolutions want them. Shapes are
suffixed on names: B batch, N patches + 1, D width, H heads, K head width, F classes.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from .activations import activation
from .attention import SelfAttention
from .family import FlaxBinding
from .layers import layer_stack
from .naming import LayeredNames, from_hf_layout, to_hf_layout
from .vit_config import ViTConfig


def _dense(cfg: ViTConfig, features: int, dtype, name: str, bias: bool = True):
    init = nn.initializers.truncated_normal(cfg.initializer_range)
    return nn.Dense(features, use_bias=bias, dtype=dtype, kernel_init=init, name=name)


class Layer(nn.Module):
    """Pre-norm encoder layer: HF's ViTLayer with its module names."""

    cfg: ViTConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxNxD, deterministic: bool):
        cfg = self.cfg
        norm = dict(epsilon=cfg.layer_norm_eps, dtype=self.dtype)
        drop = nn.Dropout(cfg.hidden_dropout_prob)
        h = nn.LayerNorm(**norm, name="layernorm_before")(x_BxNxD)
        attention = SelfAttention(
            cfg.num_attention_heads,
            cfg.attention_probs_dropout_prob,
            nn.initializers.truncated_normal(cfg.initializer_range),
            cfg.qkv_bias,
            self.dtype,
            name="attention_attention",
        )
        h = attention(h, None, deterministic)
        h = _dense(cfg, cfg.hidden_size, self.dtype, "attention_output_dense")(h)
        x_BxNxD = x_BxNxD + drop(h, deterministic=deterministic)
        h = nn.LayerNorm(**norm, name="layernorm_after")(x_BxNxD)
        h = _dense(cfg, cfg.intermediate_size, self.dtype, "intermediate_dense")(h)
        h = activation(cfg.hidden_act)(h)
        h = _dense(cfg, cfg.hidden_size, self.dtype, "output_dense")(h)
        return x_BxNxD + drop(h, deterministic=deterministic)


class ViTForImageClassification(nn.Module):
    """Images [B, H, W, C] (normalised floats) -> class logits [B, F] (float32)."""

    cfg: ViTConfig
    dtype: jnp.dtype = jnp.float32
    remat: bool = False  # --gradient_checkpointing (layers.py)
    scan: bool = False  # --scan_layers (layers.py)

    @nn.compact
    def __call__(self, images_BxHxWxC, deterministic: bool = True):
        cfg = self.cfg
        patch = cfg.patch_size
        x = nn.Conv(
            cfg.hidden_size,
            (patch, patch),
            strides=(patch, patch),
            padding="VALID",
            dtype=self.dtype,
            kernel_init=nn.initializers.truncated_normal(cfg.initializer_range),
            name="patch_projection",
        )(images_BxHxWxC.astype(self.dtype))
        batch = x.shape[0]
        x_BxNxD = x.reshape(batch, -1, cfg.hidden_size)
        init = nn.initializers.truncated_normal(cfg.initializer_range)
        cls = self.param("cls_token", init, (1, 1, cfg.hidden_size))
        positions = self.param("position_embeddings", init, (1, cfg.patches + 1, cfg.hidden_size))
        x_BxNxD = jnp.concatenate([jnp.tile(cls, (batch, 1, 1)).astype(self.dtype), x_BxNxD], 1)
        x_BxNxD = x_BxNxD + positions.astype(self.dtype)
        x_BxNxD = nn.Dropout(cfg.hidden_dropout_prob)(x_BxNxD, deterministic=deterministic)
        layers = layer_stack(self, Layer, (cfg, self.dtype), cfg.num_hidden_layers, "layer", (2,))
        x_BxNxD = layers(x_BxNxD, deterministic)
        x_BxNxD = nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=self.dtype, name="layernorm")(
            x_BxNxD
        )
        logits_BxF = _dense(cfg, cfg.num_labels, self.dtype, "classifier")(x_BxNxD[:, 0])
        return logits_BxF.astype(jnp.float32)


def dummy_input(cfg: ViTConfig, _length: int):
    return (jnp.zeros((1, cfg.image_size, cfg.image_size, cfg.num_channels), jnp.float32),)


NAMES = LayeredNames(
    top={
        "patch_projection": "vit.embeddings.patch_embeddings.projection",
        "cls_token": "vit.embeddings.cls_token",
        "position_embeddings": "vit.embeddings.position_embeddings",
        "layernorm": "vit.layernorm",
        "classifier": "classifier",
    },
    layers="vit.encoder.layer",
    in_layer={
        "attention_attention": "attention.attention",
        "attention_output_dense": "attention.output.dense",
        "intermediate_dense": "intermediate.dense",
        "output_dense": "output.dense",
        "layernorm_before": "layernorm_before",
        "layernorm_after": "layernorm_after",
    },
    ignored=("vit.pooler.",),  # ViTModel's pooler: classification reads the CLS token
    bare=("embeddings.", "encoder.", "pooler.", "layernorm."),
)

BINDING = FlaxBinding({"image_classification": ViTForImageClassification},
                      {"image_classification": ("classifier",)}, NAMES.to_hf, NAMES.from_hf,
                      dummy_input, to_hf_layout, from_hf_layout)  # fmt: skip
