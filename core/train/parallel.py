"""Data parallelism over a 1-D device axis: the same step under jax.pmap or jax.shard_map.

pmap is the HF scripts' program model (state replicated with a leading device axis);
shard_map on a mesh is where JAX is going and what multi-host needs. Both take host
batches shaped [devices, accum, per_device, ...].
"""

from __future__ import annotations

import jax
import numpy as np
from flax import jax_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .step import AXIS

MODES = ("pmap", "shard_map")


class _DataParallel:
    """Compiles the train step ahead of time, so compile seconds are measured on their own."""

    def __init__(self, devices, train_fn, eval_fn):
        self.devices = devices
        self._train, self._eval = train_fn, eval_fn
        self._compiled = None

    def compile(self, state, batch, key) -> None:
        self._compiled = self._train.lower(state, batch, key).compile()

    def train_step(self, state, batch, key):
        return (self._compiled or self._train)(state, batch, key)


class PmapParallel(_DataParallel):
    def __init__(self, devices, train_step, eval_step):
        super().__init__(
            devices,
            jax.pmap(train_step, AXIS, in_axes=(0, 0, None), donate_argnums=(0,), devices=devices),
            jax.pmap(eval_step, AXIS, devices=devices),
        )

    def put_state(self, state):
        return jax_utils.replicate(state, self.devices)

    def host_state(self, state):
        # One replica's shard, copied once; flax's unreplicate keeps the device axis on a
        # single-device pmap.
        return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)[0], state)

    def eval_step(self, params, batch) -> tuple[dict, dict]:
        sums, outputs = jax.device_get(self._eval(params, batch))
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in outputs.items()}  # [devices, n]
        return {k: float(v[0]) for k, v in sums.items()}, flat  # sums are replicated

    def host_metrics(self, metrics) -> dict:
        return {k: float(v[0]) for k, v in jax.device_get(metrics).items()}


class ShardMapParallel(_DataParallel):
    def __init__(self, devices, train_step, eval_step):
        mesh = jax.sharding.Mesh(np.array(devices), (AXIS,))
        self._replicated = NamedSharding(mesh, P())

        def local(x):  # each device sees a [1, ...] slice of the leading device axis
            return jax.tree.map(lambda a: a[0], x)

        train = jax.shard_map(
            lambda state, batch, key: train_step(state, local(batch), key),
            mesh=mesh,
            in_specs=(P(), P(AXIS), P()),
            out_specs=(P(), P()),
        )
        evaluate = jax.shard_map(
            lambda params, batch: eval_step(params, local(batch)),
            mesh=mesh,
            in_specs=(P(), P(AXIS)),
            out_specs=(P(), P(AXIS)),  # sums replicated; per-example outputs by device
        )
        super().__init__(devices, jax.jit(train, donate_argnums=(0,)), jax.jit(evaluate))

    def put_state(self, state):
        return jax.device_put(state, self._replicated)

    def host_state(self, state):
        return jax.device_get(state)

    def eval_step(self, params, batch) -> tuple[dict, dict]:
        sums, outputs = jax.device_get(self._eval(params, batch))
        return {k: float(v) for k, v in sums.items()}, outputs

    def host_metrics(self, metrics) -> dict:
        return {k: float(v) for k, v in jax.device_get(metrics).items()}


def make_parallel(mode: str, devices, train_step, eval_step) -> _DataParallel:
    return {"pmap": PmapParallel, "shard_map": ShardMapParallel}[mode](
        devices, train_step, eval_step
    )
