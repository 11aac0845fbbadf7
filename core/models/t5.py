"""T5 in Flax linen, laid out so its parameters map one to one onto HF
T5ForConditionalGeneration (v1.0 and v1.1 / flan-t5 styles, t5_config.py).

Attention is unscaled (T5 folds the scale into its initialisation) and adds a learnt bias
per relative-position bucket, which the first layer of each stack holds and the others
reuse. Shapes are suffixed on names: B batch, L queries, S keys, D model width, H heads,
K head width, V vocabulary.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from . import kv_cache
from .activations import activation
from .family import FlaxBinding
from .layers import rematerialised
from .llama import RMSNorm
from .naming import from_hf_layout, to_hf_layout
from .t5_config import T5Config
from .token_loss import Projection


def relative_buckets(relative_LxS, bidirectional: bool, buckets: int, max_distance: int):
    """Mesh TensorFlow's buckets of (key position - query position): exact for small
    distances, logarithmic up to max_distance; the two directions apart when bidirectional
    (the encoder), only the past otherwise (the decoder)."""
    bucket_LxS = 0
    if bidirectional:
        buckets //= 2
        bucket_LxS = (relative_LxS > 0).astype(jnp.int32) * buckets
        distance_LxS = jnp.abs(relative_LxS)
    else:
        distance_LxS = -jnp.minimum(relative_LxS, 0)
    exact = buckets // 2
    scaled = jnp.log(jnp.maximum(distance_LxS, 1).astype(jnp.float32) / exact)
    scaled = scaled / math.log(max_distance / exact) * (buckets - exact)
    far_LxS = jnp.minimum(exact + scaled.astype(jnp.int32), buckets - 1)
    return bucket_LxS + jnp.where(distance_LxS < exact, distance_LxS, far_LxS)


def _dense(features: int, std: float, dtype, name: str):
    init = nn.initializers.normal(std)
    return nn.Dense(features, use_bias=False, dtype=dtype, kernel_init=init, name=name)


class Attention(nn.Module):
    """Self-attention (with the position-bias table if `has_bias`) or, given `memory`,
    attention over the encoder's states. `decode_length` > 0 caches keys and values."""

    cfg: T5Config
    causal: bool
    has_bias: bool = False
    decode_length: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD, mask, bias_1xHxLxS, deterministic, start=0, memory=None):
        cfg, (batch, length, width) = self.cfg, x_BxLxD.shape
        inner, f = cfg.num_heads * cfg.d_kv, cfg.initializer_factor

        def heads(t):
            return t.reshape(batch, -1, cfg.num_heads, cfg.d_kv)

        q = heads(_dense(inner, f * (width * cfg.d_kv) ** -0.5, self.dtype, "q")(x_BxLxD))
        key, value = (_dense(inner, f * width**-0.5, self.dtype, n) for n in ("k", "v"))
        if memory is not None:  # cross-attention: the encoder's keys, once per generation
            k, v = kv_cache.kept(
                self,
                "memory",
                lambda: (heads(key(memory)), heads(value(memory))),
                self.decode_length > 0,
            )
        else:
            k, v = heads(key(x_BxLxD)), heads(value(x_BxLxD))
            if self.decode_length:
                k, v, mask = kv_cache.extend(self, self.decode_length, k, v, start)
        if bias_1xHxLxS is None and self.has_bias:
            bias_1xHxLxS = self.position_bias(start + jnp.arange(length), k.shape[1])
        scores = jnp.einsum("bqhk,bshk->bhqs", q, k)
        if bias_1xHxLxS is not None:
            scores = scores + bias_1xHxLxS
        if mask is not None:
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(self.dtype)
        weights = nn.Dropout(cfg.dropout_rate)(weights, deterministic=deterministic)
        out = jnp.einsum("bhqs,bshk->bqhk", weights, v).reshape(batch, length, inner)
        return _dense(width, f * inner**-0.5, self.dtype, "o")(out), bias_1xHxLxS

    def position_bias(self, queries_L, keys: int):
        cfg = self.cfg
        relative_LxS = jnp.arange(keys)[None, :] - queries_L[:, None]
        bucket_LxS = relative_buckets(relative_LxS, not self.causal,
                                      cfg.relative_attention_num_buckets,
                                      cfg.relative_attention_max_distance)  # fmt: skip
        table = BucketTable(cfg.relative_attention_num_buckets, cfg.num_heads,
                            cfg.initializer_factor * cfg.d_model**-0.5, self.dtype,
                            name="relative_attention_bias")  # fmt: skip
        return table(bucket_LxS)[None]


class BucketTable(nn.Module):
    """Each head's learnt bias by relative-position bucket: [H, L, S] for buckets [L, S].
    Looked up as a one-hot product, not a gather: a gather's gradient adds L x S values
    into a few dozen rows, which a GPU serialises (a t5-small step on an H200 took 1.4 s
    in its backward pass that way, against 12 ms forward)."""

    buckets: int
    heads: int
    std: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, bucket_LxS):
        table_NxH = self.param("embedding", nn.initializers.normal(self.std),
                               (self.buckets, self.heads))  # fmt: skip
        one_hot_LxSxN = jax.nn.one_hot(bucket_LxS, self.buckets, dtype=self.dtype)
        return jnp.einsum("lsn,nh->hls", one_hot_LxSxN, table_NxH.astype(self.dtype))


class FeedForward(nn.Module):
    """act(wi x) wo (v1.0), or act(wi_0 x) * wi_1 x, then wo (gated, v1.1)."""

    cfg: T5Config
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD, deterministic):
        cfg, f = self.cfg, self.cfg.initializer_factor
        act = activation(cfg.activation)
        into = f * cfg.d_model**-0.5
        if cfg.gated:
            h = act(_dense(cfg.d_ff, into, self.dtype, "wi_0")(x_BxLxD))
            h = h * _dense(cfg.d_ff, into, self.dtype, "wi_1")(x_BxLxD)
        else:
            h = act(_dense(cfg.d_ff, into, self.dtype, "wi")(x_BxLxD))
        h = nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        return _dense(cfg.d_model, f * cfg.d_ff**-0.5, self.dtype, "wo")(h)


class Sublayer(nn.Module):
    """Norm, then attention or feed-forward, then dropout and the residual: HF's
    T5LayerSelfAttention, T5LayerCrossAttention and T5LayerFF ("layer.N")."""

    cfg: T5Config
    kind: str  # "SelfAttention", "EncDecAttention" or "DenseReluDense", HF's names
    causal: bool = False
    has_bias: bool = False
    decode_length: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD, deterministic, mask=None, bias=None, start=0, memory=None):
        cfg = self.cfg
        h = RMSNorm(cfg.layer_norm_epsilon, self.dtype, name="layer_norm")(x_BxLxD)
        if self.kind == "DenseReluDense":
            h = FeedForward(cfg, self.dtype, name=self.kind)(h, deterministic)
        else:
            attention = Attention(cfg, self.causal, self.has_bias, self.decode_length,
                                  self.dtype, name=self.kind)  # fmt: skip
            h, bias = attention(h, mask, bias, deterministic, start, memory)
        h = nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
        return x_BxLxD + h, bias


class Stack(nn.Module):
    """The encoder (`causal` False) or the decoder, whose blocks also attend to `memory`,
    the encoder's states: HF's T5Stack."""

    cfg: T5Config
    causal: bool
    decode_length: int = 0
    dtype: jnp.dtype = jnp.float32
    remat: bool = False

    @nn.compact
    def __call__(self, x_BxLxD, deterministic, mask=None, memory=None, memory_mask=None):
        cfg, length = self.cfg, x_BxLxD.shape[1]
        start = kv_cache.start_position(self, length) if self.decode_length else 0
        if self.causal and not self.decode_length:
            mask = jnp.tril(jnp.ones((length, length), dtype=bool))
        kinds = ["SelfAttention", *(["EncDecAttention"] if self.causal else []), "DenseReluDense"]
        x_BxLxD = nn.Dropout(cfg.dropout_rate)(x_BxLxD, deterministic=deterministic)
        biases = {}
        sublayer_class = rematerialised(self, Sublayer, static_argnums=(2, 5))
        for i in range(cfg.decoder_layers if self.causal else cfg.num_layers):
            for j, kind in enumerate(kinds):
                sublayer = sublayer_class(cfg, kind, self.causal, i == 0 and kind == "SelfAttention",
                                    self.decode_length, self.dtype,
                                    name=f"block_{i}_layer_{j}")  # fmt: skip
                cross = kind == "EncDecAttention"
                x_BxLxD, biases[kind] = sublayer(
                    x_BxLxD, deterministic, memory_mask if cross else mask, biases.get(kind),
                    start, memory if cross else None,
                )  # fmt: skip
        x_BxLxD = RMSNorm(cfg.layer_norm_epsilon, self.dtype, name="final_layer_norm")(x_BxLxD)
        return nn.Dropout(cfg.dropout_rate)(x_BxLxD, deterministic=deterministic)


def _padding_mask(attention_mask_BxS):
    """[B, 1, 1, S]: which keys are tokens, not padding (None: all are)."""
    return None if attention_mask_BxS is None else attention_mask_BxS[:, None, None, :] > 0


class T5ForConditionalGeneration(nn.Module):
    """(input ids [B, S], decoder input ids [B, L]) -> next-token logits [B, L, V]
    (float32). `encode` and `decode` are its two halves, for generation."""

    cfg: T5Config
    dtype: jnp.dtype = jnp.float32
    decode_length: int = 0  # > 0: the decoder caches keys and values (kv_cache.py)
    remat: bool = False  # --gradient_checkpointing (layers.py)

    def setup(self):
        cfg = self.cfg
        self.shared = nn.Embed(cfg.vocab_size, cfg.d_model, dtype=self.dtype,
                               embedding_init=nn.initializers.normal(cfg.initializer_factor))  # fmt: skip
        self.encoder = Stack(cfg, False, dtype=self.dtype, remat=self.remat)
        self.decoder = Stack(cfg, True, self.decode_length, self.dtype, self.remat)
        if not cfg.tie_word_embeddings:
            self.lm_head = _dense(cfg.vocab_size, cfg.initializer_factor, self.dtype, "lm_head")

    def __call__(self, ids_BxS, decoder_ids_BxL, deterministic=True, attention_mask_BxS=None,
                 project: bool = True):  # fmt: skip
        memory = self.encode(ids_BxS, attention_mask_BxS, deterministic)
        return self.decode(decoder_ids_BxL, memory, attention_mask_BxS, deterministic, project)

    def encode(self, ids_BxS, attention_mask_BxS=None, deterministic=True):
        """The encoder's states [B, S, D]."""
        mask = _padding_mask(attention_mask_BxS)
        return self.encoder(self.shared(ids_BxS), deterministic, mask)

    def decode(self, decoder_ids_BxL, memory_BxSxD, attention_mask_BxS=None, deterministic=True,
               project: bool = True):  # fmt: skip
        """Next-token logits [B, L, V] (float32) after `decoder_ids`, given the encoder's
        states and its padding mask; with `project` False, what they are made of (a
        Projection of the final states, for a loss that projects a chunk at a time)."""
        x_BxLxD = self.decoder(self.shared(decoder_ids_BxL), deterministic, None, memory_BxSxD,
                               _padding_mask(attention_mask_BxS))  # fmt: skip
        if self.cfg.tie_word_embeddings:  # scaled, as T5 reads the embedding as its head
            x_BxLxD = x_BxLxD * self.cfg.d_model**-0.5
            if not project:
                return Projection(x_BxLxD, self.shared.embedding, vocab_first=True)
            return self.shared.attend(x_BxLxD).astype(jnp.float32)
        if not project:  # the kernel is read, not applied: init always projects
            return Projection(x_BxLxD, self.lm_head.variables["params"]["kernel"], False)
        return self.lm_head(x_BxLxD).astype(jnp.float32)


# Flax path <-> HF name: encoder/block_3_layer_1/DenseReluDense/wo/kernel <->
# encoder.block.3.layer.1.DenseReluDense.wo.weight
_IGNORED = ("encoder.embed_tokens.", "decoder.embed_tokens.",  # tied to shared
            "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.")  # fmt: skip
_LEAVES = {"layer_norm": "scale", "final_layer_norm": "scale", "shared": "embedding",
           "relative_attention_bias": "embedding"}  # fmt: skip


def param_to_hf(path: tuple[str, ...]) -> str:
    names = []
    for part in path[:-1]:
        if part.startswith("block_"):
            _, block, _, layer = part.split("_")
            part = f"block.{block}.layer.{layer}"
        names.append(part)
    return ".".join([*names, "weight"])


def param_from_hf(name: str) -> tuple[str, ...] | None:
    if name.startswith(_IGNORED):
        return None
    parts = name.split(".")[:-1]
    if len(parts) > 4 and parts[1] == "block":
        parts = [parts[0], f"block_{parts[2]}_layer_{parts[4]}", *parts[5:]]
    return (*parts, _LEAVES.get(parts[-1], "kernel"))


def dummy_input(_config, length: int):
    ids = jnp.zeros((1, max(length, 1)), jnp.int32)
    return ids, ids


BINDING = FlaxBinding(
    {"seq2seq_lm": T5ForConditionalGeneration},
    {"seq2seq_lm": ()},
    param_to_hf, param_from_hf, dummy_input, to_hf_layout, from_hf_layout,
    tied={("lm_head", "kernel"): "shared.weight"},
)  # fmt: skip
