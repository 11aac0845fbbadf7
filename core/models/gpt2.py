"""GPT-2 in Flax linen, laid out so its parameters map one to one onto HF GPT2LMHeadModel
and GPT2ForSequenceClassification.

Shapes are suffixed on names: B batch, L sequence, D model width, H heads, K head width,
V vocabulary, C classes.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax.numpy as jnp

from . import kv_cache
from .activations import activation
from .attention import attend, cached_attention
from .family import FlaxBinding
from .gpt2_config import GPT2Config
from .last_token import LastTokenClassifier
from .layers import layer_stack
from .token_loss import Projection


def _dense(cfg: GPT2Config, features: int, dtype, name: str, std: float | None = None):
    return nn.Dense(
        features,
        dtype=dtype,
        kernel_init=nn.initializers.normal(std or cfg.initializer_range),
        name=name,
    )


class Attention(nn.Module):
    cfg: GPT2Config
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0  # > 0: keys and values are cached (kv_cache.py)

    @nn.compact
    def __call__(self, x_BxLxD, deterministic: bool, start=0):
        cfg = self.cfg
        batch, length, width = x_BxLxD.shape
        heads, head_width = cfg.n_head, width // cfg.n_head
        qkv_BxLx3D = _dense(cfg, 3 * width, self.dtype, "c_attn")(x_BxLxD)
        q, k, v = (
            t.reshape(batch, length, heads, head_width) for t in jnp.split(qkv_BxLx3D, 3, axis=-1)
        )
        if self.decode_length:
            k, v, mask_LxS = kv_cache.extend(self, self.decode_length, k, v, start)
            out_BxLxHxK = cached_attention(q, k, v, mask_LxS)
        else:
            causal_LxL = jnp.tril(jnp.ones((length, length), dtype=bool))
            dropout = nn.Dropout(cfg.attn_pdrop, deterministic=deterministic)
            out_BxLxHxK = attend(q, k, v, causal_LxL, dropout)
        out_BxLxD = out_BxLxHxK.reshape(batch, length, width)
        proj_std = cfg.initializer_range / math.sqrt(2 * cfg.n_layer)
        out_BxLxD = _dense(cfg, width, self.dtype, "c_proj", proj_std)(out_BxLxD)
        return nn.Dropout(cfg.resid_pdrop)(out_BxLxD, deterministic=deterministic)


class MLP(nn.Module):
    cfg: GPT2Config
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD, deterministic: bool):
        cfg = self.cfg
        h = _dense(cfg, cfg.inner_size, self.dtype, "c_fc")(x_BxLxD)
        h = activation(cfg.activation_function)(h)
        proj_std = cfg.initializer_range / math.sqrt(2 * cfg.n_layer)
        h = _dense(cfg, cfg.n_embd, self.dtype, "c_proj", proj_std)(h)
        return nn.Dropout(cfg.resid_pdrop)(h, deterministic=deterministic)


class Block(nn.Module):
    cfg: GPT2Config
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0

    @nn.compact
    def __call__(self, x_BxLxD, deterministic: bool, start=0):
        eps = self.cfg.layer_norm_epsilon
        h = nn.LayerNorm(epsilon=eps, dtype=self.dtype, name="ln_1")(x_BxLxD)
        attention = Attention(self.cfg, self.dtype, self.decode_length, name="attn")
        x_BxLxD = x_BxLxD + attention(h, deterministic, start)
        h = nn.LayerNorm(epsilon=eps, dtype=self.dtype, name="ln_2")(x_BxLxD)
        return x_BxLxD + MLP(self.cfg, self.dtype, name="mlp")(h, deterministic)


def transformer(module: nn.Module, ids_BxL, deterministic: bool):
    """Embeddings, blocks and the final norm as submodules of `module` (HF's GPT2Model,
    "transformer." in a checkpoint): (states [B, L, D], the token embedding)."""
    cfg, dtype = module.cfg, module.dtype
    init = nn.initializers.normal(cfg.initializer_range)
    wte = nn.Embed(cfg.vocab_size, cfg.n_embd, embedding_init=init, dtype=dtype, name="wte")
    wpe = nn.Embed(cfg.n_positions, cfg.n_embd, embedding_init=init, dtype=dtype, name="wpe")
    decode_length = getattr(module, "decode_length", 0)  # classifiers never decode
    length = ids_BxL.shape[1]
    start = kv_cache.start_position(module, length) if decode_length else 0
    x_BxLxD = wte(ids_BxL) + wpe(start + jnp.arange(length))[None]
    x_BxLxD = nn.Dropout(cfg.embd_pdrop)(x_BxLxD, deterministic=deterministic)
    blocks = layer_stack(module, Block, (cfg, dtype, decode_length), cfg.n_layer, "h", (2, 3))
    x_BxLxD = blocks(x_BxLxD, deterministic, start)
    norm = nn.LayerNorm(epsilon=cfg.layer_norm_epsilon, dtype=dtype, name="ln_f")
    return norm(x_BxLxD), wte


class GPT2LMHead(nn.Module):
    """Token ids [B, L] -> next-token logits [B, L, V] (float32), lm head tied to wte; with
    `project` False, what they are made of (a Projection of the final states by wte), for
    a loss that projects a chunk at a time (token_loss.py)."""

    cfg: GPT2Config
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0  # > 0: keys and values are cached (kv_cache.py)
    remat: bool = False  # --gradient_checkpointing (layers.py)
    scan: bool = False  # --scan_layers (layers.py)

    @nn.compact
    def __call__(self, ids_BxL, deterministic: bool = True, project: bool = True):
        x_BxLxD, wte = transformer(self, ids_BxL, deterministic)
        if not project:
            return Projection(x_BxLxD, wte.embedding, vocab_first=True)
        return wte.attend(x_BxLxD).astype(jnp.float32)


# HF checkpoints store GPT-2 as GPT2LMHeadModel ("transformer." prefix) or GPT2Model (none);
# Conv1D weights are [in, out] like a flax Dense kernel, so only the classifier's `score`
# (a torch Linear, [out, in]) is transposed.
_LEAF_TO_HF = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}
_IGNORED_HF_SUFFIXES = (".attn.bias", ".attn.masked_bias", "lm_head.weight")


def param_to_hf(path: tuple[str, ...]) -> str:
    *modules, leaf = path
    if modules == ["score"]:
        return "score.weight"
    names = [m.replace("h_", "h.", 1) if m.startswith("h_") else m for m in modules]
    return ".".join(["transformer", *names, _LEAF_TO_HF[leaf]])


def param_from_hf(name: str) -> tuple[str, ...] | None:
    if name.endswith(_IGNORED_HF_SUFFIXES):
        return None  # causal-mask buffers, and the lm head tied to wte
    if name == "score.weight":
        return ("score", "kernel")
    parts = name.removeprefix("transformer.").split(".")
    if parts[0] == "h":
        parts = [f"h_{parts[1]}", *parts[2:]]
    *modules, leaf = parts
    if leaf == "weight":
        leaf = {"wte": "embedding", "wpe": "embedding"}.get(modules[-1]) or (
            "scale" if modules[-1].startswith("ln") else "kernel"
        )
    return (*modules, leaf)


def token_ids(_config, length: int):
    return (jnp.zeros((1, length), jnp.int32),)


def score_layout(path: tuple[str, ...], array):
    return array.T if path[0] == "score" else array


BINDING = FlaxBinding(
    {"causal_lm": GPT2LMHead,
     "sequence_classification": functools.partial(LastTokenClassifier, body=transformer)},
    {"causal_lm": (), "sequence_classification": ("score",)},
    param_to_hf, param_from_hf, token_ids, score_layout, score_layout,
)  # fmt: skip
