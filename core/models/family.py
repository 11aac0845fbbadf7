"""A model family on the jax side: its descriptor (descriptor.py) joined to its Flax file's
binding, which is imported only when a model is built.

Recipes build, load and export models only through `get_family(name)`; a new family
(Llama, T5) is its config file, its Flax file with a BINDING, and one registry line.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from typing import Any

import jax
import jax.numpy as jnp

from ..registry import FAMILIES
from . import hf_io
from .descriptor import FamilyDescriptor


@dataclasses.dataclass(frozen=True)
class FlaxBinding:
    """What a family's Flax file exports: modules by head, and its HF tensor names."""

    heads: dict[str, Any]  # head name -> flax module class taking (config, dtype=)
    to_hf: hf_io.ToHF
    from_hf: hf_io.FromHF
    dummy_input: Any  # (config, length) -> one example input, to shape the params
    to_hf_layout: hf_io.Layout = hf_io.same_layout
    from_hf_layout: hf_io.Layout = hf_io.same_layout


class Family:
    def __init__(self, descriptor: FamilyDescriptor):
        self.descriptor = descriptor
        module, attribute = descriptor.flax.split(":")
        self.binding: FlaxBinding = getattr(
            importlib.import_module(f"{__package__}.{module}"), attribute
        )

    @property
    def name(self) -> str:
        return self.descriptor.name

    def config(self, values: dict, dropout: float | None = None):
        return self.descriptor.config(values, dropout)

    def module(self, config, head: str | None = None, dtype: str = "float32"):
        """The Flax module of `head` (the family's first when not named)."""
        module_cls = self.binding.heads[head or self.descriptor.heads[0]]
        return module_cls(config, dtype=jnp.dtype(dtype))

    def init_params(self, config, rng, seq_len: int, head: str | None = None) -> dict:
        example = self.binding.dummy_input(config, seq_len)
        return jax.jit(self.module(config, head).init)(rng, example)["params"]

    def load(self, directory: str | os.PathLike):
        """(config, params) from an HF checkpoint directory."""
        config = self.config(hf_io.read_config(directory))
        template = jax.eval_shape(lambda: self.init_params(config, jax.random.key(0), 1))
        params = hf_io.read_params(
            directory, self.binding.from_hf, template, self.binding.from_hf_layout
        )
        return config, params

    def save(self, directory: str | os.PathLike, config, params) -> None:
        hf_io.write_checkpoint(
            directory, config.to_hf(), params, self.binding.to_hf, self.binding.to_hf_layout
        )

    def start(self, spec, values: dict, keep: dict | None = None):
        """(config, checkpoint params or None) for a run: from --model_name_or_path's
        checkpoint, else from `values`, with --dropout applied; `keep` overrides what the
        checkpoint's config says (a classifier's new classes)."""
        if not spec.model_name_or_path:
            return self.config(values, spec.dropout), None
        checkpoint, loaded = self.load(spec.model_name_or_path)
        return self.config({**checkpoint.to_hf(), **(keep or {})}, spec.dropout), loaded


@functools.cache
def get_family(name: str) -> Family:
    return Family(FAMILIES[name])
