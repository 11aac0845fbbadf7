"""A model family: its config and module classes plus its HF tensor-name mapping.

Recipes build, load and export models only through this, so a new family (Llama, T5)
plugs in by adding one entry to FAMILIES.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp

from . import bert, gpt2, hf_io, naming, vit


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    config_cls: Any
    module_cls: Any
    to_hf: hf_io.ToHF
    from_hf: hf_io.FromHF
    dummy_input: Any = None  # (config, length) -> one example input, to shape the params
    to_hf_layout: hf_io.Layout = hf_io.same_layout
    from_hf_layout: hf_io.Layout = hf_io.same_layout

    def config(self, values: dict, **overrides):
        return self.config_cls.from_hf({**values, **overrides})

    def module(self, config, dtype: str = "float32"):
        return self.module_cls(config, dtype=jnp.dtype(dtype))

    def init_params(self, config, rng, seq_len: int) -> dict:
        example = self.dummy_input(config, seq_len)
        return jax.jit(self.module(config).init)(rng, example)["params"]

    def load(self, directory: str | os.PathLike):
        """(config, params) from an HF checkpoint directory."""
        config = self.config_cls.from_hf(hf_io.read_config(directory))
        template = jax.eval_shape(lambda: self.init_params(config, jax.random.key(0), 1))
        return config, hf_io.read_params(directory, self.from_hf, template, self.from_hf_layout)

    def save(self, directory: str | os.PathLike, config, params) -> None:
        hf_io.write_checkpoint(directory, config.to_hf(), params, self.to_hf, self.to_hf_layout)


def _token_ids(_config, length: int):
    return jnp.zeros((1, length), jnp.int32)


FAMILIES = {
    "gpt2": Family(
        "gpt2", gpt2.GPT2Config, gpt2.GPT2LMHead, gpt2.param_to_hf, gpt2.param_from_hf, _token_ids
    ),
    "bert": Family(
        "bert",
        bert.BertConfig,
        bert.BertForMaskedLM,
        bert.BERT_NAMES.to_hf,
        bert.BERT_NAMES.from_hf,
        bert.dummy_input,
        naming.to_hf_layout,
        naming.from_hf_layout,
    ),
    "roberta": Family(
        "roberta",
        bert.RobertaConfig,
        bert.BertForMaskedLM,
        bert.ROBERTA_NAMES.to_hf,
        bert.ROBERTA_NAMES.from_hf,
        bert.dummy_input,
        naming.to_hf_layout,
        naming.from_hf_layout,
    ),
    "vit": Family(
        "vit",
        vit.ViTConfig,
        vit.ViTForImageClassification,
        vit.NAMES.to_hf,
        vit.NAMES.from_hf,
        vit.dummy_input,
        naming.to_hf_layout,
        naming.from_hf_layout,
    ),
}
