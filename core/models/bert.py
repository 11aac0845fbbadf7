"""BERT and RoBERTa in Flax linen, for masked language modelling and sequence
classification, named after HF's Bert/Roberta ForMaskedLM and ForSequenceClassification
so parameters map one to one (BERT_NAMES, ROBERTA_NAMES); the masked-LM decoder is tied to
the word embeddings.

Shapes are suffixed on names: B batch, L sequence, D width, V vocabulary, C classes.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from .activations import activation
from .attention import SelfAttention
from .bert_config import BertConfig
from .family import FlaxBinding
from .layers import layer_stack
from .naming import LayeredNames, from_hf_layout, to_hf_layout
from .token_loss import Projection


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
        h = activation(cfg.hidden_act)(h)
        h = drop(_dense(cfg, cfg.hidden_size, self.dtype, "output_dense")(h))
        return nn.LayerNorm(**norm, name="output_LayerNorm")(x_BxLxD + h)


def encode(module: nn.Module, ids_BxL, deterministic: bool, attention_mask_BxL, types_BxL):
    """Embeddings and encoder layers, as submodules of `module` (each head's model has
    them at its top level, as HF's checkpoints do under bert./roberta.): (states
    [B, L, D], the word embeddings, which the masked-LM decoder is tied to)."""
    cfg, dtype = module.cfg, module.dtype
    init = nn.initializers.normal(cfg.initializer_range)

    def embed(rows: int, name: str):
        return nn.Embed(rows, cfg.hidden_size, embedding_init=init, dtype=dtype, name=name)

    words = embed(cfg.vocab_size, "word_embeddings")
    if cfg.model_type == "roberta":  # counted over real tokens, after the padding id
        real_BxL = ids_BxL != cfg.pad_token_id
        positions = jnp.cumsum(real_BxL, axis=1) * real_BxL + cfg.pad_token_id
    else:
        positions = jnp.arange(ids_BxL.shape[1])[None]
    types_BxL = jnp.zeros_like(ids_BxL) if types_BxL is None else types_BxL
    x_BxLxD = (
        words(ids_BxL)
        + embed(cfg.max_position_embeddings, "position_embeddings")(positions)
        + embed(cfg.type_vocab_size, "token_type_embeddings")(types_BxL)
    )
    x_BxLxD = nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=dtype, name="embeddings_LayerNorm")(
        x_BxLxD
    )
    x_BxLxD = nn.Dropout(cfg.hidden_dropout_prob)(x_BxLxD, deterministic=deterministic)
    mask = None if attention_mask_BxL is None else attention_mask_BxL[:, None, None, :] > 0
    layers = layer_stack(module, Layer, (cfg, dtype), cfg.num_hidden_layers, "layer", (3,))
    x_BxLxD = layers(x_BxLxD, mask, deterministic)
    return x_BxLxD, words


class BertForMaskedLM(nn.Module):
    """Token ids [B, L] (and a padding mask) -> vocabulary logits [B, L, V] (float32); with
    `project` False, what they are made of (a Projection of the transformed states by the
    word embedding, plus the prediction bias), for a loss that projects a chunk at a time
    (token_loss.py)."""

    cfg: BertConfig
    dtype: jnp.dtype = jnp.float32
    remat: bool = False  # --gradient_checkpointing (layers.py)
    scan: bool = False  # --scan_layers (layers.py)

    @nn.compact
    def __call__(self, ids_BxL, deterministic=True, attention_mask_BxL=None, types_BxL=None,
                 project: bool = True):  # fmt: skip
        cfg = self.cfg
        x_BxLxD, words = encode(self, ids_BxL, deterministic, attention_mask_BxL, types_BxL)
        transform = _dense(cfg, cfg.hidden_size, self.dtype, "transform_dense")
        h = activation(cfg.hidden_act)(transform(x_BxLxD))
        h = nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=self.dtype, name="transform_LayerNorm")(
            h
        )
        bias_V = self.param("prediction_bias", nn.initializers.zeros, (cfg.vocab_size,))
        if not project:
            return Projection(h, words.embedding, vocab_first=True, bias=bias_V)
        return (words.attend(h) + bias_V).astype(jnp.float32)


class BertForSequenceClassification(nn.Module):
    """Token ids [B, L], padding mask and token types -> class logits [B, C] (float32),
    from the first token: BERT's pooler (dense, tanh) then a classifier, or RoBERTa's
    classification head (dense, tanh, out_proj), each after dropout as in HF."""

    cfg: BertConfig
    dtype: jnp.dtype = jnp.float32
    remat: bool = False  # --gradient_checkpointing (layers.py)
    scan: bool = False  # --scan_layers (layers.py)

    @nn.compact
    def __call__(self, ids_BxL, deterministic=True, attention_mask_BxL=None, types_BxL=None):
        cfg = self.cfg
        x_BxLxD, _ = encode(self, ids_BxL, deterministic, attention_mask_BxL, types_BxL)
        drop = nn.Dropout(cfg.classifier_rate, deterministic=deterministic)
        first_BxD = x_BxLxD[:, 0]
        if cfg.model_type == "roberta":
            h = jnp.tanh(
                _dense(cfg, cfg.hidden_size, self.dtype, "classifier_dense")(drop(first_BxD))
            )
            logits_BxC = _dense(cfg, cfg.num_labels, self.dtype, "classifier_out_proj")(drop(h))
        else:
            h = jnp.tanh(_dense(cfg, cfg.hidden_size, self.dtype, "pooler_dense")(first_BxD))
            logits_BxC = _dense(cfg, cfg.num_labels, self.dtype, "classifier")(drop(h))
        return logits_BxC.astype(jnp.float32)


def dummy_input(_cfg: BertConfig, length: int):
    return (jnp.zeros((1, max(length, 1)), jnp.int32),)


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
        # The position-id buffer of older checkpoints; the decoder is tied to the words.
        ignored=(f"{model}.embeddings.position_ids", *ignored),
    )


BERT_NAMES = _names(
    "bert",
    {
        "transform_dense": "cls.predictions.transform.dense",
        "transform_LayerNorm": "cls.predictions.transform.LayerNorm",
        "prediction_bias": "cls.predictions.bias",
        "pooler_dense": "bert.pooler.dense",
        "classifier": "classifier",
    },
    ("cls.predictions.decoder.", "cls.seq_relationship."),  # and BertForPreTraining's NSP
)
ROBERTA_NAMES = _names(
    "roberta",
    {
        "transform_dense": "lm_head.dense",
        "transform_LayerNorm": "lm_head.layer_norm",
        "prediction_bias": "lm_head.bias",
        "classifier_dense": "classifier.dense",
        "classifier_out_proj": "classifier.out_proj",
    },
    ("lm_head.decoder.", "roberta.pooler."),  # RobertaModel's pooler: no head reads it
)

_HEADS = {"masked_lm": BertForMaskedLM, "sequence_classification": BertForSequenceClassification}
_MLM_MODULES = ("transform_dense", "transform_LayerNorm", "prediction_bias")
BERT_BINDING = FlaxBinding(
    _HEADS,
    {"masked_lm": _MLM_MODULES, "sequence_classification": ("pooler_dense", "classifier")},
    BERT_NAMES.to_hf, BERT_NAMES.from_hf, dummy_input, to_hf_layout, from_hf_layout,
)  # fmt: skip
ROBERTA_BINDING = FlaxBinding(
    _HEADS,
    {"masked_lm": _MLM_MODULES,
     "sequence_classification": ("classifier_dense", "classifier_out_proj")},
    ROBERTA_NAMES.to_hf, ROBERTA_NAMES.from_hf, dummy_input, to_hf_layout, from_hf_layout,
)  # fmt: skip
