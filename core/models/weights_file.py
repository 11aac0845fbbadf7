"""The weights of an HF model directory, in whichever format the Hub holds them.

Formats, preferred first: model.safetensors (one file, or shards beside an index),
flax_model.msgpack (the HF Flax format the community week's models were saved in) and
pytorch_model.bin (needs torch; read with weights_only). Whatever the format, tensors come
out under their PyTorch names and layouts, which every family's loader reads.

Validation only asks `problem()`, which reads headers, not tensors: a safetensors file is
an 8-byte header length, a JSON header giving each tensor's byte range, then the data; a
download or copy cut short is shorter than its header promises.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

# File name -> the files it brings (an index brings its shards), in order of preference.
FORMATS = {
    "model.safetensors": ("model.safetensors",),
    "model.safetensors.index.json": ("model.safetensors.index.json", "*.safetensors"),
    "flax_model.msgpack": ("flax_model.msgpack",),
    "pytorch_model.bin": ("pytorch_model.bin",),
    "pytorch_model.bin.index.json": ("pytorch_model.bin.index.json", "pytorch_model-*.bin"),
}
NO_WEIGHTS = "no weights tpudeck reads (model.safetensors, flax_model.msgpack or pytorch_model.bin)"
TORCH_FIX = "install torch (pip install torch --index-url https://download.pytorch.org/whl/cpu)"


def weights_name(names) -> str | None:
    """The preferred weights file among `names` (a directory's or a Hub repo's)."""
    names = set(names)
    return next((name for name in FORMATS if name in names), None)


def find_weights(directory: str | Path) -> Path | None:
    directory = Path(directory)
    name = weights_name(p.name for p in directory.iterdir()) if directory.is_dir() else None
    return directory / name if name else None


def problem(directory: str | Path) -> str | None:
    """Why the weights in `directory` cannot be read, or None when they can."""
    path = find_weights(directory)
    if path is None:
        return NO_WEIGHTS
    if path.name.endswith(".bin") or path.name.endswith(".bin.index.json"):
        try:
            import torch  # noqa: F401
        except ImportError:
            return f"{path.name} needs torch: {TORCH_FIX}, or use a repo with safetensors"
    if path.name.endswith(".index.json"):
        try:
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            return f"{path.name} is not a weights index ({exc})"
        missing = [s for s in shards if not (path.parent / s).is_file()]
        if missing:
            return f"{path.name} names {missing[0]}, which is not there"
        if path.name.startswith("model.safetensors"):
            return next(filter(None, (_safetensors_problem(path.parent / s) for s in shards)), None)
        return None
    return _safetensors_problem(path) if path.suffix == ".safetensors" else None


def _safetensors_problem(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is shorter than a header"
            (length,) = struct.unpack("<Q", head)
            if length > 100 * 2**20:
                return f"{path.name}'s header length is implausible"
            header = json.loads(f.read(length))
        size = path.stat().st_size
    except (OSError, ValueError) as exc:
        return f"{path.name}'s header is unreadable ({exc})"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"{path.name} has {size} bytes, its header describes {expected}"
    return None


def read_tensors(path: Path) -> dict:
    """name -> numpy array, PyTorch names and layouts, from the weights file `path`
    (as find_weights names it). Raises OSError or ValueError for a damaged file."""
    if path.name.endswith(".index.json"):
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in read_tensors(path.parent / shard).items()}
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(path)
    if path.suffix == ".msgpack":
        return _from_flax(path.read_bytes())
    return _from_torch(path)


def _from_flax(data: bytes) -> dict:
    """An HF Flax msgpack tree under PyTorch names, as transformers converted it: a Dense
    "kernel" is the transposed "weight", a Conv kernel (H, W, in, out) becomes (out, in,
    H, W), LayerNorm's "scale" and an Embed's "embedding" are the "weight"."""
    import numpy as np
    from flax.serialization import msgpack_restore
    from flax.traverse_util import flatten_dict

    tensors = {}
    for key, value in flatten_dict(msgpack_restore(data)).items():
        array = np.asarray(value, dtype=np.float32)
        *module, leaf = key
        if leaf == "kernel":
            array = array.transpose(3, 2, 0, 1) if array.ndim == 4 else array.T
        if leaf in ("kernel", "scale", "embedding"):
            leaf = "weight"
        tensors[".".join((*module, leaf))] = np.ascontiguousarray(array)
    return tensors


def _from_torch(path: Path) -> dict:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {name: tensor.float().numpy() for name, tensor in state.items()}
