"""Llama in Flax linen, laid out so its parameters map one to one onto HF LlamaForCausalLM
and LlamaForSequenceClassification.

Shapes are suffixed on names: B batch, L sequence, D model width, H query heads, G key/value
heads, K head width, F MLP width, V vocabulary, C classes.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from . import kv_cache
from .attention import cached_attention, causal_attention
from .family import FlaxBinding
from .last_token import LastTokenClassifier
from .layers import layer_stack
from .llama_config import LlamaConfig
from .naming import from_hf_layout, to_hf_layout
from .token_loss import Projection


def inverse_frequencies(cfg: LlamaConfig) -> np.ndarray:
    """RoPE's inverse frequencies [K/2], with the checkpoint's scaling (as transformers)."""
    k = cfg.head_width
    inv_freq = 1.0 / cfg.rope_theta ** (np.arange(0, k, 2, dtype=np.float64) / k)
    scaling = cfg.rope_scaling or {}
    if scaling.get("rope_type") == "linear":
        return inv_freq / scaling["factor"]
    if scaling.get("rope_type") == "llama3":  # Llama 3.1: stretch the long wavelengths only
        factor, context = scaling["factor"], scaling["original_max_position_embeddings"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        wavelength = 2 * math.pi / inv_freq
        scaled = np.where(wavelength > context / low, inv_freq / factor, inv_freq)
        smooth = (context / wavelength - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelength >= context / high) & (wavelength <= context / low)
        return np.where(medium, smoothed, scaled)
    return inv_freq


def rotate(x_BxLxHxK, cos_LxK, sin_LxK):
    half = x_BxLxHxK.shape[-1] // 2
    rotated = jnp.concatenate([-x_BxLxHxK[..., half:], x_BxLxHxK[..., :half]], axis=-1)
    return x_BxLxHxK * cos_LxK[:, None] + rotated * sin_LxK[:, None]


class RMSNorm(nn.Module):
    eps: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD):
        scale_D = self.param("scale", nn.initializers.ones, (x_BxLxD.shape[-1],))
        x = x_BxLxD.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
        return scale_D.astype(self.dtype) * x.astype(self.dtype)


def _dense(cfg: LlamaConfig, features: int, bias: bool, dtype, name: str):
    init = nn.initializers.normal(cfg.initializer_range)
    return nn.Dense(features, use_bias=bias, dtype=dtype, kernel_init=init, name=name)


class Attention(nn.Module):
    cfg: LlamaConfig
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0  # > 0: keys and values are cached (kv_cache.py)

    @nn.compact
    def __call__(self, x_BxLxD, cos_LxK, sin_LxK, deterministic: bool, start=0):
        cfg, (batch, length, _) = self.cfg, x_BxLxD.shape
        heads, groups, k = cfg.num_attention_heads, cfg.kv_heads, cfg.head_width
        bias = cfg.qkv_bias
        q = _dense(cfg, heads * k, bias, self.dtype, "q_proj")(x_BxLxD)
        kv = [_dense(cfg, groups * k, bias, self.dtype, n)(x_BxLxD) for n in ("k_proj", "v_proj")]
        q_BxLxHxK = rotate(q.reshape(batch, length, heads, k), cos_LxK, sin_LxK)
        k_BxLxGxK = rotate(kv[0].reshape(batch, length, groups, k), cos_LxK, sin_LxK)
        v_BxLxGxK = kv[1].reshape(batch, length, groups, k)
        if self.decode_length:
            cached = kv_cache.extend(self, self.decode_length, k_BxLxGxK, v_BxLxGxK, start)
            out = cached_attention(q_BxLxHxK, *cached)
        else:
            dropout = nn.Dropout(cfg.attention_dropout, deterministic=deterministic)
            out = causal_attention(
                q_BxLxHxK, k_BxLxGxK, v_BxLxGxK, dropout, cfg.attn_implementation
            )
        return _dense(cfg, cfg.hidden_size, cfg.output_bias, self.dtype, "o_proj")(
            out.reshape(batch, length, heads * k)
        )


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    cfg: LlamaConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD):
        cfg, bias = self.cfg, self.cfg.mlp_bias
        gate_BxLxF = _dense(cfg, cfg.intermediate_size, bias, self.dtype, "gate_proj")(x_BxLxD)
        up_BxLxF = _dense(cfg, cfg.intermediate_size, bias, self.dtype, "up_proj")(x_BxLxD)
        return _dense(cfg, cfg.hidden_size, bias, self.dtype, "down_proj")(
            jax.nn.silu(gate_BxLxF) * up_BxLxF
        )


class DecoderLayer(nn.Module):
    cfg: LlamaConfig
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0

    @nn.compact
    def __call__(self, x_BxLxD, cos_LxK, sin_LxK, deterministic: bool, start=0):
        eps = self.cfg.rms_norm_eps
        h = RMSNorm(eps, self.dtype, name="input_layernorm")(x_BxLxD)
        x_BxLxD = x_BxLxD + Attention(self.cfg, self.dtype, self.decode_length, name="self_attn")(
            h, cos_LxK, sin_LxK, deterministic, start
        )
        h = RMSNorm(eps, self.dtype, name="post_attention_layernorm")(x_BxLxD)
        return x_BxLxD + MLP(self.cfg, self.dtype, name="mlp")(h)


def decoder(module: nn.Module, ids_BxL, deterministic: bool):
    """Embedding, decoder layers and the final norm as submodules of `module` (HF's
    LlamaModel, "model." in a checkpoint): (states [B, L, D], the token embedding)."""
    cfg, dtype = module.cfg, module.dtype
    init = nn.initializers.normal(cfg.initializer_range)
    embed = nn.Embed(cfg.vocab_size, cfg.hidden_size, embedding_init=init, dtype=dtype,
                     name="embed_tokens")  # fmt: skip
    decode_length = getattr(module, "decode_length", 0)  # classifiers never decode
    length = ids_BxL.shape[1]
    if decode_length:  # positions after the cached ones: known only when the call runs
        start = kv_cache.start_position(module, length)
        angles_LxK2 = (start + jnp.arange(length))[:, None] * jnp.asarray(
            inverse_frequencies(cfg), jnp.float32
        )[None]
        angles_LxK = jnp.concatenate([angles_LxK2, angles_LxK2], axis=-1)
        cos_LxK, sin_LxK = jnp.cos(angles_LxK).astype(dtype), jnp.sin(angles_LxK).astype(dtype)
    else:
        start = 0
        angles_LxK2 = np.arange(length)[:, None] * inverse_frequencies(cfg)[None]
        angles_LxK = np.concatenate([angles_LxK2, angles_LxK2], axis=-1)
        cos_LxK = jnp.asarray(np.cos(angles_LxK), dtype)
        sin_LxK = jnp.asarray(np.sin(angles_LxK), dtype)
    x_BxLxD = embed(ids_BxL)
    layers = layer_stack(module, DecoderLayer, (cfg, dtype, decode_length),
                         cfg.num_hidden_layers, "layers", (4, 5))  # fmt: skip
    x_BxLxD = layers(x_BxLxD, cos_LxK, sin_LxK, deterministic, start)
    return RMSNorm(cfg.rms_norm_eps, dtype, name="norm")(x_BxLxD), embed


class LlamaForCausalLM(nn.Module):
    """Token ids [B, L] -> next-token logits [B, L, V] (float32); with `project` False,
    what they are made of: a Projection of the final states (token_loss.py)."""

    cfg: LlamaConfig
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0  # > 0: keys and values are cached (kv_cache.py)
    remat: bool = False  # --gradient_checkpointing (layers.py)
    scan: bool = False  # --scan_layers (layers.py)

    @nn.compact
    def __call__(self, ids_BxL, deterministic: bool = True, project: bool = True):
        x_BxLxD, embed = decoder(self, ids_BxL, deterministic)
        if self.cfg.tie_word_embeddings:
            if not project:
                return Projection(x_BxLxD, embed.embedding, vocab_first=True)
            return embed.attend(x_BxLxD).astype(jnp.float32)
        lm_head = _dense(self.cfg, self.cfg.vocab_size, False, self.dtype, "lm_head")
        if not project:  # the kernel is read, not applied: init always projects
            return Projection(x_BxLxD, lm_head.variables["params"]["kernel"], vocab_first=False)
        return lm_head(x_BxLxD).astype(jnp.float32)


# Flax path <-> HF name: layers_3/self_attn/q_proj/kernel <-> model.layers.3.self_attn.q_proj.weight
_LEAVES = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}
_IGNORED = ("model.rotary_emb.", ".self_attn.rotary_emb.")  # old checkpoints' RoPE buffers


def param_to_hf(path: tuple[str, ...]) -> str:
    *modules, leaf = path
    if modules in (["lm_head"], ["score"]):  # the heads, beside the model
        return f"{modules[0]}.{_LEAVES[leaf]}"
    names = [m.replace("layers_", "layers.", 1) for m in modules]
    return ".".join(["model", *names, _LEAVES[leaf]])


def param_from_hf(name: str) -> tuple[str, ...] | None:
    if any(part in name for part in _IGNORED):
        return None
    if name in ("lm_head.weight", "score.weight"):
        return (name.split(".")[0], "kernel")
    *modules, leaf = name.removeprefix("model.").split(".")
    if modules[0] == "layers":
        modules = [f"layers_{modules[1]}", *modules[2:]]
    if leaf == "weight":
        last = modules[-1]
        leaf = "embedding" if last == "embed_tokens" else "scale" if "norm" in last else "kernel"
    return (*modules, leaf)


def token_ids(_config, length: int):
    return (jnp.zeros((1, max(length, 1)), jnp.int32),)


BINDING = FlaxBinding(
    {"causal_lm": LlamaForCausalLM,
     "sequence_classification": functools.partial(LastTokenClassifier, body=decoder)},
    {"causal_lm": ("lm_head",), "sequence_classification": ("score",)},
    param_to_hf, param_from_hf, token_ids, to_hf_layout, from_hf_layout,
)  # fmt: skip
