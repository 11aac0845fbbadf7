"""Flax parameter paths <-> HF tensor names, for encoder families with numbered layers.

Our modules use flat names (`attention_output_dense` inside `layer_3`); HF nests them
(`vit.encoder.layer.3.attention.output.dense`). A LayeredNames table says how, once per
family, and maps both ways. PyTorch also stores Linear weights [out, in] and Conv2d weights
[out, in, h, w]: `to_hf_layout` / `from_hf_layout` transpose kernels.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LayeredNames:
    top: dict  # our top-level module (or parameter) name -> HF path
    layers: str  # HF path of the numbered layers, e.g. "vit.encoder.layer"
    in_layer: dict  # our module name inside a layer -> HF sub-path
    ignored: tuple = ()  # HF name prefixes we do not load (poolers, tied heads, buffers)
    # The first parts of a base model's tensor names, which transformers saves without the
    # model prefix ("bert.") when the checkpoint is a BertModel rather than a head class.
    bare: tuple = ("embeddings.", "encoder.", "pooler.")

    @property
    def prefix(self) -> str:
        return self.layers.split(".")[0] + "."

    def to_hf(self, path: tuple[str, ...]) -> str:
        *modules, leaf = path
        if not modules:  # a parameter of the top module itself, e.g. ViT's cls_token
            return self.top[leaf]
        head, *rest = modules
        if head.startswith("layer_"):
            inner, *deeper = rest
            names = [f"{self.layers}.{head[len('layer_') :]}", self.in_layer[inner], *deeper]
        else:
            names = [self.top[head], *rest]
        return ".".join([*names, "bias" if leaf == "bias" else "weight"])

    def from_hf(self, name: str) -> tuple[str, ...] | None:
        if name.startswith(self.bare):  # a base model's checkpoint
            name = self.prefix + name
        if name.startswith(self.ignored):
            return None
        for ours, theirs in self.top.items():
            if name == theirs:
                return (ours,)
        module_path, hf_leaf = name.rsplit(".", 1)
        if module_path.startswith(self.layers + "."):
            index, _, inner = module_path[len(self.layers) + 1 :].partition(".")
            modules = [f"layer_{index}", *self._ours(self.in_layer, inner)]
        else:
            modules = self._ours(self.top, module_path)
        return (*modules, _leaf(modules[-1], hf_leaf))

    @staticmethod
    def _ours(table: dict, theirs_path: str) -> list[str]:
        """Our module names for an HF path, longest table match first (an unknown path
        comes back as is, for hf_io to report as a tensor of another family)."""
        for ours, theirs in sorted(table.items(), key=lambda item: -len(item[1])):
            if theirs_path == theirs or theirs_path.startswith(theirs + "."):
                return [ours, *theirs_path[len(theirs) :].split(".")[1:]]
        return [theirs_path]


def _leaf(module: str, hf_leaf: str) -> str:
    if hf_leaf == "bias":
        return "bias"
    if "layernorm" in module.lower():
        return "scale"
    return "embedding" if module.endswith("embeddings") else "kernel"


def to_hf_layout(path: tuple[str, ...], array):
    """PyTorch keeps Linear weights [out, in] and Conv2d weights [out, in, h, w]."""
    if path[-1] != "kernel":
        return array
    return np.transpose(array, (3, 2, 0, 1)) if array.ndim == 4 else np.transpose(array)


def from_hf_layout(path: tuple[str, ...], array):
    if path[-1] != "kernel":
        return array
    return np.transpose(array, (2, 3, 1, 0)) if array.ndim == 4 else np.transpose(array)
