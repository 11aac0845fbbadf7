"""Read and write Hugging Face checkpoint directories: config.json and the weights
(read in any format weights_file knows, written as model.safetensors).

Family modules supply the name mapping; this module owns the files and their errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict
from safetensors import SafetensorError
from safetensors.numpy import save_file

from ..errors import CheckpointError
from .weights_file import NO_WEIGHTS, find_weights, read_tensors

# (flax path tuple) -> HF tensor name, and back (None for tensors a family ignores).
ToHF = Callable[[tuple[str, ...]], str]
FromHF = Callable[[str], "tuple[str, ...] | None"]
# A tensor's layout change between Flax and PyTorch (e.g. Linear weights transposed).
Layout = Callable[[tuple[str, ...], np.ndarray], np.ndarray]
# (the top-level modules a model's head owns, those every other head of the family owns)
HeadModules = tuple[tuple[str, ...], tuple[str, ...]]
# Tensors a checkpoint may leave out because transformers tied them to another: flax path
# -> the other's HF name (T5's LM head, which transformers 5 ties to the embedding).
Tied = dict[tuple[str, ...], str]


def same_layout(_path: tuple[str, ...], array: np.ndarray) -> np.ndarray:
    return array


def read_config(directory: str | os.PathLike) -> dict:
    path = Path(directory, "config.json")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{directory}: no config.json; pass an HF model directory") from None
    except ValueError as exc:
        raise CheckpointError(f"{path} is corrupt ({exc}); re-export the model") from None


def read_params(directory: str | os.PathLike, from_hf: FromHF, template: dict,
                from_hf_layout: Layout = same_layout, heads: HeadModules | None = None,
                tied: Tied | None = None) -> tuple[dict, tuple[str, ...]]:  # fmt: skip
    """Load the directory's weights into a params tree shaped like `template`.

    With `heads` (what the template's head owns, what other heads own; top-level module
    names) a checkpoint of another head loads: other heads' tensors are skipped, and the
    template head's modules may be absent or shaped otherwise (a classifier for other
    classes). Returns (params, the head modules not loaded); every other leaf must be there.
    """
    own, others = heads or ((), ())
    path = find_weights(directory)
    if path is None:
        raise CheckpointError(f"{directory}: {NO_WEIGHTS}; pass an HF model dir")
    try:
        tensors = read_tensors(path)
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupt ({exc}); re-export or re-download it") from None
    wanted = flatten_dict(template)
    found = {}
    for name, array in tensors.items():
        key = from_hf(name)
        if key is None or (key not in wanted and key[0] in others):
            continue
        if key not in wanted:
            raise CheckpointError(
                f"{path}: unexpected tensor {name}; is it the right model family?"
            )
        array = from_hf_layout(key, array)
        if array.shape != wanted[key].shape:
            if key[0] in own:
                continue  # the head starts anew, as for a missing one
            raise CheckpointError(
                f"{path}: {name} has shape {array.shape}, the config implies {wanted[key].shape}; "
                "the config.json does not match the weights"
            )
        found[key] = array.astype(np.float32)
    for key, source in (tied or {}).items():
        if key in wanted and key not in found and source in tensors:
            found[key] = from_hf_layout(key, tensors[source]).astype(np.float32)
    fresh = tuple(m for m in own if any(k[0] == m and k not in found for k in wanted))
    missing = sorted(k for k in set(wanted) - set(found) if k[0] not in fresh)
    if missing:
        raise CheckpointError(f"{path}: missing tensor for {'/'.join(missing[0])}; re-export it")
    return unflatten_dict({k: v for k, v in found.items() if k[0] not in fresh}), fresh


def write_checkpoint(directory: str | os.PathLike, config: dict, params: dict, to_hf: ToHF,
                     to_hf_layout: Layout = same_layout):  # fmt: skip
    """Write config.json and model.safetensors; files appear whole (temp file + rename)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        to_hf(key): np.ascontiguousarray(to_hf_layout(key, np.asarray(value, dtype=np.float32)))
        for key, value in flatten_dict(params).items()
    }
    tmp = directory / ".model.safetensors.tmp"
    save_file(tensors, tmp, metadata={"format": "pt"})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # safetensors writes 0600; a team store must be group-readable
    os.replace(tmp, directory / "model.safetensors")
    tmp = directory / ".config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, directory / "config.json")
