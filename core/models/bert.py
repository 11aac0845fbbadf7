"""BERT and RoBERTa for masked language modelling in Flax linen, named after HF's
BertForMaskedLM / RobertaForMaskedLM so parameters map one to one (BERT_NAMES,
ROBERTA_NAMES); the decoder is tied to the word embeddings.

Shapes are suffixed on names: B batch, L sequence, D width, V vocabulary.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from .attention import SelfAttention
from .bert_config import BertConfig
from .family import FlaxBinding
from .naming import LayeredNames, from_hf_layout, to_hf_layout


def _dense(cfg: BertConfig, features: int, dtype, name: str):
    init = nn.initializers.normal(cfg.initializer_range)
    return nn.Dense(features, dtype=dtype, kernel_init=init, name=name)


class Layer(nn.Module):
    """Post-norm encoder layer: HF's BertLayer with its module names."""

    cfg: BertConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD, mask_Bx1x1xL, deterministic: bool):
        cfg = self.cfg
        norm = dict(epsilon=cfg.layer_norm_eps, dtype=self.dtype)
        drop = nn.Dropout(cfg.hidden_dropout_prob, deterministic=deterministic)
        attention = SelfAttention(
            cfg.num_attention_heads,
            cfg.attention_probs_dropout_prob,
            nn.initializers.normal(cfg.initializer_range),
            dtype=self.dtype,
            name="attention_self",
        )
        h = attention(x_BxLxD, mask_Bx1x1xL, deterministic)
        h = drop(_dense(cfg, cfg.hidden_size, self.dtype, "attention_output_dense")(h))
        x_BxLxD = nn.LayerNorm(**norm, name="attention_output_LayerNorm")(x_BxLxD + h)
        h = _dense(cfg, cfg.intermediate_size, self.dtype, "intermediate_dense")(x_BxLxD)
        h = jax.nn.gelu(h, approximate=False)  # HF's "gelu" is the exact erf form
        h = drop(_dense(cfg, cfg.hidden_size, self.dtype, "output_dense")(h))
        return nn.LayerNorm(**norm, name="output_LayerNorm")(x_BxLxD + h)


class BertForMaskedLM(nn.Module):
    """Token ids [B, L] (and a padding mask) -> vocabulary logits [B, L, V] (float32)."""

    cfg: BertConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, ids_BxL, deterministic: bool = True, attention_mask_BxL=None):
        cfg = self.cfg
        init = nn.initializers.normal(cfg.initializer_range)

        def embed(rows: int, name: str):
            return nn.Embed(rows, cfg.hidden_size, embedding_init=init, dtype=self.dtype, name=name)

        words = embed(cfg.vocab_size, "word_embeddings")
        if cfg.model_type == "roberta":  # counted over real tokens, after the padding id
            real_BxL = ids_BxL != cfg.pad_token_id
            positions = jnp.cumsum(real_BxL, axis=1) * real_BxL + cfg.pad_token_id
        else:
            positions = jnp.arange(ids_BxL.shape[1])[None]
        x_BxLxD = (
            words(ids_BxL)
            + embed(cfg.max_position_embeddings, "position_embeddings")(positions)
            + embed(cfg.type_vocab_size, "token_type_embeddings")(jnp.zeros_like(ids_BxL))
        )
        norm = dict(epsilon=cfg.layer_norm_eps, dtype=self.dtype)
        x_BxLxD = nn.LayerNorm(**norm, name="embeddings_LayerNorm")(x_BxLxD)
        x_BxLxD = nn.Dropout(cfg.hidden_dropout_prob)(x_BxLxD, deterministic=deterministic)
        mask = None if attention_mask_BxL is None else attention_mask_BxL[:, None, None, :] > 0
        for i in range(cfg.num_hidden_layers):
            x_BxLxD = Layer(cfg, self.dtype, name=f"layer_{i}")(x_BxLxD, mask, deterministic)
        h = jax.nn.gelu(
            _dense(cfg, cfg.hidden_size, self.dtype, "transform_dense")(x_BxLxD), approximate=False
        )
        h = nn.LayerNorm(**norm, name="transform_LayerNorm")(h)
        bias_V = self.param("prediction_bias", nn.initializers.zeros, (cfg.vocab_size,))
        return (words.attend(h) + bias_V).astype(jnp.float32)


def dummy_input(_cfg: BertConfig, length: int):
    return jnp.zeros((1, max(length, 1)), jnp.int32)


def _names(model: str, head: dict, ignored: tuple) -> LayeredNames:
    """The two families differ in their prefix and their prediction head's names."""
    return LayeredNames(
        top={
            "word_embeddings": f"{model}.embeddings.word_embeddings",
            "position_embeddings": f"{model}.embeddings.position_embeddings",
            "token_type_embeddings": f"{model}.embeddings.token_type_embeddings",
            "embeddings_LayerNorm": f"{model}.embeddings.LayerNorm",
            **head,
        },
        layers=f"{model}.encoder.layer",
        in_layer={
            "attention_self": "attention.self",
            "attention_output_dense": "attention.output.dense",
            "attention_output_LayerNorm": "attention.output.LayerNorm",
            "intermediate_dense": "intermediate.dense",
            "output_dense": "output.dense",
            "output_LayerNorm": "output.LayerNorm",
        },
        # Poolers and the position-id buffer of older checkpoints are not part of a masked
        # LM; the decoder is tied to the word embeddings.
        ignored=(f"{model}.pooler.", f"{model}.embeddings.position_ids", *ignored),
    )


BERT_NAMES = _names(
    "bert",
    {
        "transform_dense": "cls.predictions.transform.dense",
        "transform_LayerNorm": "cls.predictions.transform.LayerNorm",
        "prediction_bias": "cls.predictions.bias",
    },
    ("cls.predictions.decoder.", "cls.seq_relationship."),
)
ROBERTA_NAMES = _names(
    "roberta",
    {
        "transform_dense": "lm_head.dense",
        "transform_LayerNorm": "lm_head.layer_norm",
        "prediction_bias": "lm_head.bias",
    },
    ("lm_head.decoder.",),
)

BERT_BINDING = FlaxBinding({"masked_lm": BertForMaskedLM}, BERT_NAMES.to_hf, BERT_NAMES.from_hf,
                           dummy_input, to_hf_layout, from_hf_layout)  # fmt: skip
ROBERTA_BINDING = dataclasses.replace(
    BERT_BINDING, to_hf=ROBERTA_NAMES.to_hf, from_hf=ROBERTA_NAMES.from_hf
)
