"""A model family on the jax side: its descriptor (descriptor.py) joined to its Flax file's
binding, which is imported only when a model is built.

Recipes build, load and export models only through `get_family(name)`; a new family
(Llama, T5) is its config file, its Flax file with a BINDING, and one registry line.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import os
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import CheckpointError
from ..registry import FAMILIES
from . import hf_io, layers
from .descriptor import FamilyDescriptor

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FlaxBinding:
    """What a family's Flax file exports: modules by head, and its HF tensor names."""

    heads: dict[str, Any]  # head name -> flax module class taking (config, dtype=)
    # head name -> the top-level modules only that head has (a checkpoint of one head
    # starts a model of another: those modules are skipped or initialised)
    head_modules: dict[str, tuple[str, ...]]
    to_hf: hf_io.ToHF
    from_hf: hf_io.FromHF
    dummy_input: Any  # (config, length) -> the module's arguments for one example, a tuple
    to_hf_layout: hf_io.Layout = hf_io.same_layout
    from_hf_layout: hf_io.Layout = hf_io.same_layout
    tied: hf_io.Tied = dataclasses.field(default_factory=dict)


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

    def module(self, config, head: str | None = None, dtype: str = "float32",
               decode_length: int = 0, remat: bool = False, scan: bool = False):  # fmt: skip
        """The Flax module of `head` (the family's first when not named); with
        `decode_length` > 0 a generating head that caches keys and values (kv_cache.py);
        with `remat` its layers recompute their activations for the gradients, with `scan`
        they run as one compiled loop over parameters stacked by `scanned` (layers.py)."""
        module_cls = self.binding.heads[head or self.default_head]
        if decode_length:
            return module_cls(config, dtype=jnp.dtype(dtype), decode_length=decode_length)
        scanned = {"scan": True} if scan else {}  # families whose layers differ lack the field
        return module_cls(config, dtype=jnp.dtype(dtype), remat=remat, **scanned)

    @property
    def default_head(self) -> str:
        return next(iter(self.descriptor.heads))

    def init_params(self, config, rng, seq_len: int, head: str | None = None) -> dict:
        example = self.binding.dummy_input(config, seq_len)
        return jax.jit(self.module(config, head).init)(rng, *example)["params"]

    def scanned(self, params: dict, config, head: str | None = None) -> dict:
        """`params` (the unrolled layout: checkpoints, exports, init_params) stacked for
        the module with `scan` set."""
        example = self.binding.dummy_input(config, 1)
        module = self.module(config, head, scan=True)
        return layers.stacked(
            params, jax.eval_shape(module.init, jax.random.key(0), *example)["params"]
        )

    def load(self, directory: str | os.PathLike, head: str | None = None):
        """(config, params) of an HF checkpoint directory with `head` (the family's first
        when not named); every tensor of that model must be there."""
        config = self.config(hf_io.read_config(directory))
        params, fresh = self.read_weights(directory, config, head or self.default_head)
        if fresh:
            raise CheckpointError(
                f"{directory}: no weights for {', '.join(fresh)}; pass a checkpoint with them"
            )
        return config, params

    def read_weights(self, directory: str | os.PathLike, config, head: str):
        """(params shaped by `config`, the head's modules not in the checkpoint). Other
        heads' tensors are skipped: a masked-LM checkpoint starts a classifier."""
        template = jax.eval_shape(lambda: self.init_params(config, jax.random.key(0), 1, head))
        modules = self.binding.head_modules
        others = tuple(m for h, names in modules.items() if h != head for m in names)
        return hf_io.read_params(directory, self.binding.from_hf, template,
                                 self.binding.from_hf_layout, (modules[head], others),
                                 self.binding.tied)  # fmt: skip

    def save(self, directory: str | os.PathLike, config, params, head: str | None = None) -> None:
        """An HF checkpoint directory of `params`, in either layout (layers.py)."""
        values = {
            **config.to_hf(),
            "architectures": [self.descriptor.heads[head or self.default_head]],
        }
        hf_io.write_checkpoint(
            directory,
            values,
            layers.unstacked(params),
            self.binding.to_hf,
            self.binding.to_hf_layout,
        )

    def start(self, spec, values: dict, head: str, keep: dict | None = None) -> Start:
        """A run's model: from --model_name_or_path's checkpoint, else from `values`, with
        --dropout applied; `keep` overrides what the checkpoint's config says (a
        classifier's new classes)."""
        scan = spec.scan_layers
        if not spec.model_name_or_path:
            return Start(self, self.config(values, spec.dropout), head, None, (), scan)
        saved = self.config(hf_io.read_config(spec.model_name_or_path))
        config = self.config({**saved.to_hf(), **(keep or {})}, spec.dropout)
        params, fresh = self.read_weights(spec.model_name_or_path, config, head)
        if fresh:
            log.info(
                "%s has no %s head of this shape (%s): it starts from random weights",
                spec.model_name_or_path, head.replace("_", " "), ", ".join(fresh),
            )  # fmt: skip
        return Start(self, config, head, params, fresh, scan)


@dataclasses.dataclass(frozen=True)
class Start:
    """Where a run's weights come from: a checkpoint, fresh ones, or a checkpoint whose
    head (for another task or other classes) is fresh."""

    family: Family
    config: Any
    head: str
    loaded: dict | None
    fresh: tuple[str, ...]  # the head's modules the checkpoint lacked
    scan: bool  # --scan_layers

    def module(self, spec):
        """The Flax module a run trains: --dtype's compute, --gradient_checkpointing's
        remat, --scan_layers' loop."""
        return self.family.module(self.config, self.head, spec.dtype,
                                  remat=spec.gradient_checkpointing, scan=self.scan)  # fmt: skip

    def params(self, rng, seq_len: int) -> dict:
        """The run's first weights: the same whether its layers are scanned or not."""
        params = self._unrolled_params(rng, seq_len)
        return self.family.scanned(params, self.config, self.head) if self.scan else params

    def _unrolled_params(self, rng, seq_len: int) -> dict:
        if self.loaded is not None and not self.fresh:
            return self.loaded
        new = self.family.init_params(self.config, rng, seq_len, self.head)
        if self.loaded is None:
            return new
        return {**self.loaded, **{m: new[m] for m in self.fresh}}


@functools.cache
def get_family(name: str) -> Family:
    return Family(FAMILIES[name])
