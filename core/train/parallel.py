"""Data parallelism over a 1-D device axis: the same step under jax.pmap or jax.shard_map.

pmap is the HF scripts' program model (state replicated with a leading device axis);
shard_map on a mesh is where JAX is going and what multi-host needs. Both take host
batches shaped [devices, accum, per_device, ...].
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

from .optimizer import is_elementwise, make_optimizer
from .step import AXIS, TrainState, make_eval_step, make_train_step

MODES = ("pmap", "shard_map", "fsdp")


class _DataParallel:
    """Compiles the train step ahead of time, so compile seconds are measured on their own."""

    def __init__(self, devices, train_fn, eval_fn):
        self.devices = devices
        self._train, self._eval = train_fn, eval_fn
        self._compiled = None

    def compile(self, state, batch, constants) -> None:
        self._compiled = self._train.lower(state, batch, constants).compile()

    def train_step(self, state, batch, constants):
        return (self._compiled or self._train)(state, batch, constants)

    def local_rows(self) -> slice:
        """The rows of a batch's device axis that this process feeds: all, on one host."""
        return slice(None)

    def shardings(self, state):
        """Where each array of `state` is read to from a checkpoint: where it lives while
        training; pmap's one replica on the first device, which put_state replicates."""
        return jax.tree.map(lambda _: SingleDeviceSharding(self.devices[0]), state)

    def new_state(self, params, tx) -> TrainState:
        """The first TrainState of `params`, for put_state to place."""
        return TrainState.create(params, tx)

    def put_batch(self, batch):
        """A host batch of this process's rows as the step takes it."""
        return batch

    def compiled_memory(self) -> int | None:
        """Bytes one device needs for the compiled step (its arguments, the state among
        them, its outputs and its temporaries), where the backend says; None where not."""
        analysis = self._compiled.memory_analysis() if self._compiled else None
        if analysis is None:
            return None
        return (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                - analysis.alias_size_in_bytes + analysis.temp_size_in_bytes)  # fmt: skip


class PmapParallel(_DataParallel):
    def __init__(self, devices, train_step, eval_step):
        super().__init__(
            devices,
            jax.pmap(train_step, AXIS, in_axes=(0, 0, None), donate_argnums=(0,), devices=devices),
            jax.pmap(eval_step, AXIS, devices=devices),
        )

    def put_state(self, state):
        """A replica on every device, each made on its device from a copy sent there. (Flax's
        replicate stacks the replicas on the first device, n times the largest weight there,
        and compiles a program for each shape: 8.6 s for a tiny GPT-2's state on 8 CPU
        devices, where this takes 1.2 s.)"""
        mesh = jax.sharding.Mesh(np.array(self.devices), (AXIS,))
        copies = jax.device_put(state, NamedSharding(mesh, P()))
        return _with_device_axis(copies, len(self.devices), NamedSharding(mesh, P(AXIS)))

    def abstract_state(self, template):
        """The shapes the step takes the state in (a replica per device), to compile by."""
        n = len(self.devices)
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct((n, *x.shape), x.dtype), template)

    def host_state(self, state):
        return self.checkpoint_state(state)

    def checkpoint_state(self, state):
        """One replica on the host: the first device's buffers fetched whole, with no
        device-side slice of them first (a copy of the state). On a CPU the host arrays
        are those buffers themselves; a step that would donate them while Orbax still
        writes them leaves them be and takes new ones."""
        replica = jax.device_get(jax.tree.map(lambda x: x.addressable_shards[0].data, state))
        return jax.tree.map(lambda x: x[0], replica)  # a view: each shard is [1, ...]

    def eval_step(self, params, batch) -> tuple[dict, dict]:
        sums, outputs = jax.device_get(self._eval(params, batch))
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in outputs.items()}  # [devices, n]
        return {k: float(v[0]) for k, v in sums.items()}, flat  # sums are replicated

    def host_metrics(self, metrics) -> dict:
        return {k: float(v[0]) for k, v in jax.device_get(metrics).items()}


@functools.partial(jax.jit, static_argnums=(1, 2))
def _with_device_axis(tree, n: int, sharding: NamedSharding):
    """Each array of `tree` (a copy on every device) as pmap takes it: [n, ...], each
    device's row its own copy."""
    return jax.lax.with_sharding_constraint(
        jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *x.shape)), tree), sharding
    )


def _local(x):
    """Under shard_map each device sees a [1, ...] slice of the leading device axis."""
    return jax.tree.map(lambda a: a[0], x)


class _MeshParallel(_DataParallel):
    """The modes on a 1-D mesh: the state lives where put_state's shardings say, and eval
    runs per device on the parameters whole (gathered by jit where they are sharded)."""

    def __init__(self, devices, train, eval_step):
        self.mesh = jax.sharding.Mesh(np.array(devices), (AXIS,))
        evaluate = jax.shard_map(
            lambda params, batch: eval_step(params, _local(batch)),
            mesh=self.mesh,
            in_specs=(P(), P(AXIS)),
            out_specs=(P(), P(AXIS)),  # sums replicated; per-example outputs by device
        )
        super().__init__(devices, jax.jit(train(self.mesh), donate_argnums=(0,)),
                         jax.jit(evaluate))  # fmt: skip

    def local_rows(self) -> slice:
        mine = [i for i, d in enumerate(self.devices) if d.process_index == jax.process_index()]
        return slice(mine[0], mine[-1] + 1)  # jax numbers each process's devices in a row

    def put_batch(self, batch):
        if jax.process_count() == 1:
            return batch  # jit splits a host batch over the mesh itself
        rows = NamedSharding(self.mesh, P(AXIS))
        return jax.tree.map(lambda x: jax.make_array_from_process_local_data(rows, x), batch)

    def host_state(self, state):
        return _to_host(state)

    def checkpoint_state(self, state):
        """The global arrays themselves: each process writes the shards it holds (Orbax
        copies them to its host before its save returns, so the next step may donate them),
        and no process gathers the whole state."""
        return state

    def put_state(self, state):
        """A state from the host (fresh weights, an old checkpoint) placed on the mesh; one
        restored where it belongs (a checkpoint read onto `shardings`) stays."""
        return jax.tree.map(_place, state, self.shardings(state))

    def abstract_state(self, template):
        """The shapes and shardings put_state gives the state, to compile by."""
        return jax.tree.map(lambda x, where: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=where),
                            template, self.shardings(template))  # fmt: skip

    def new_state(self, params, tx) -> TrainState:
        """Made where it will live: the parameters placed, then the optimizer's state made
        on their shards, so no device holds the whole moments (under fsdp, a model whose
        state fits only sharded would not fit one device while it starts)."""
        create = functools.partial(TrainState.create, tx=tx)
        params = self.put_state(params)
        return jax.jit(create, out_shardings=self.shardings(jax.eval_shape(create, params)))(params)

    def eval_step(self, params, batch) -> tuple[dict, dict]:
        sums, outputs = _to_host(self._eval(params, batch))
        return {k: float(v) for k, v in sums.items()}, outputs

    def host_metrics(self, metrics) -> dict:
        return {k: float(v) for k, v in _to_host(metrics).items()}


def _place(x, sharding: NamedSharding):
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    # An array on one local device cannot move to another host's devices; its host copy can.
    return jax.device_put(jax.device_get(x) if jax.process_count() > 1 else x, sharding)


def _to_host(tree):
    """Host copies of global arrays; a run of several processes gathers each one whole."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


class ShardMapParallel(_MeshParallel):
    def __init__(self, devices, train_step, eval_step):
        def train(mesh):
            return jax.shard_map(
                lambda state, batch, constants: train_step(state, _local(batch), constants),
                mesh=mesh,
                in_specs=(P(), P(AXIS), P()),
                out_specs=(P(), P()),
            )

        super().__init__(devices, train, eval_step)

    def shardings(self, state):
        return jax.tree.map(lambda _: NamedSharding(self.mesh, P()), state)


def fsdp_spec(shape: tuple[int, ...], n: int) -> P:
    """Where an array of `shape` is split over n devices in the sharded mode: along its
    largest axis that n divides (the first of equals); kept whole on every device when none
    does (biases, norms, scalars: small next to the matrices)."""
    fits = [axis for axis, size in enumerate(shape) if size % n == 0 and size >= n]
    if not fits:
        return P()
    axis = max(fits, key=lambda a: shape[a])
    return P(*(AXIS if a == axis else None for a in range(len(shape))))


class FsdpParallel(_MeshParallel):
    """Parameters and optimizer state sharded over the devices (fully sharded data
    parallelism: each device keeps about 1/n of the state) and the batch too. The gradients
    half of the step runs per device (shard_map) on parameters gathered whole for it, and
    hands each device its slice of the averaged gradients (a reduce-scatter); the update
    then runs on each device's shards of the state where they live."""

    def __init__(self, devices, train_step, eval_step):
        def train(mesh):
            def step(state, batch, constants):
                specs = jax.tree.map(lambda x: fsdp_spec(x.shape, len(devices)), state.params)

                def gradients(params, step, batch, key):
                    whole = jax.tree.map(_gather, params, specs)
                    grads, loss, aux = train_step.device_gradients(whole, step, _local(batch),
                                                                   key)  # fmt: skip
                    loss, aux = jax.lax.pmean((loss, aux), AXIS)
                    return jax.tree.map(_reduce_scatter, grads, specs), loss, aux

                grads, loss, aux = jax.shard_map(
                    gradients,
                    mesh=mesh,
                    in_specs=(specs, P(), P(AXIS), P()),
                    out_specs=(specs, P(), P()),
                )(state.params, state.step, batch, constants.dropout_key)
                state, metrics = train_step.update(state, grads, loss, aux, constants.schedule)
                return jax.lax.with_sharding_constraint(state, self.shardings(state)), metrics

            return step

        super().__init__(devices, train, eval_step)

    def shardings(self, state):
        n = len(self.devices)
        return jax.tree.map(lambda x: NamedSharding(self.mesh, fsdp_spec(x.shape, n)), state)


def _split_axis(spec: P) -> int | None:
    return next((axis for axis, name in enumerate(spec) if name == AXIS), None)


def _gather(shard, spec: P):
    axis = _split_axis(spec)
    return shard if axis is None else jax.lax.all_gather(shard, AXIS, axis=axis, tiled=True)


def _reduce_scatter(grad, spec: P):
    """The mean over the devices of an array each computed, as this device's slice of it."""
    axis = _split_axis(spec)
    if axis is None:
        return jax.lax.pmean(grad, AXIS)
    summed = jax.lax.psum_scatter(grad, AXIS, scatter_dimension=axis, tiled=True)
    return summed / jax.lax.axis_size(AXIS)


def make_parallel(mode: str, devices, spec, model) -> _DataParallel:
    """The mode's train and eval steps of a recipe's model, with the optimizer spec names."""
    train_step = make_train_step(model.loss, functools.partial(make_optimizer, spec),
                                 mode == "pmap" and is_elementwise(spec))  # fmt: skip
    eval_step = make_eval_step(model.eval_sums, model.eval_outputs)
    return {"pmap": PmapParallel, "shard_map": ShardMapParallel, "fsdp": FsdpParallel}[mode](
        devices, train_step, eval_step
    )
