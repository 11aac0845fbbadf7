"""The data-parallel step: 8 devices compute what 1 device computes on the same global batch."""

import dataclasses
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from tpudeck.core.recipes.base import TaskData
from tpudeck.core.recipes.clm import RECIPE as CLM
from tpudeck.core.spec import RunSpec
from tpudeck.core.train.checkpoints import Checkpoints
from tpudeck.core.train.optimizer import make_optimizer, make_schedule
from tpudeck.core.train.parallel import make_parallel
from tpudeck.core.train.step import StepConstants, TrainState

VOCAB, SEQ, GLOBAL_BATCH = 64, 16, 16


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("d") / "t.txt"
    corpus.write_text("x\n")
    spec = RunSpec.from_dict(
        {
            "train_file": str(corpus),
            "model_size": "demo",
            "block_size": SEQ,
            "dropout": 0.0,
            "max_grad_norm": 0.5,
        }
    )
    rng = np.random.default_rng(0)
    data = TaskData(
        train={"input_ids": rng.integers(0, VOCAB, (GLOBAL_BATCH, SEQ), dtype=np.int32)},
        eval={"input_ids": rng.integers(0, VOCAB, (12, SEQ), dtype=np.int32)},
        tokens_per_example=SEQ,
        model_config={**spec.model_config(), "vocab_size": VOCAB},
        tokenizer_dir=None,
        summary="",
    )
    return spec, data, CLM.build(spec, data)


def data_parallel(task, mode: str = "pmap", n_devices: int = 8, params=None):
    """(the mode's step on n devices, the state put there, the step's constants)."""
    spec, _, model = task
    schedule = make_schedule(spec, 10)
    dp = make_parallel(mode, jax.devices()[:n_devices], spec, model)
    params = model.init_params(jax.random.key(0)) if params is None else params
    state = dp.put_state(dp.new_state(params, make_optimizer(spec, schedule)))  # as the trainer
    return dp, state, StepConstants.of_seed(1, schedule)


def one_step(task, n_devices: int, accum: int = 1, mode: str = "pmap"):
    dp, state, constants = data_parallel(task, mode, n_devices)
    batch = {"input_ids": task[1].train["input_ids"].reshape(n_devices, accum, -1, SEQ)}
    state, metrics = dp.train_step(state, batch, constants)
    return dp.host_state(state), dp.host_metrics(metrics)


def assert_same_params(a, b, atol=1e-5):
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_allclose(x, y, atol=atol)


def test_eight_devices_step_equals_one_device_step(task):
    assert len(jax.devices()) == 8, "conftest must give jax 8 CPU devices"
    one, m1 = one_step(task, 1)
    eight, m8 = one_step(task, 8)
    assert int(one.step) == int(eight.step) == 1
    assert_same_params(one, eight)
    assert m1["loss"] == pytest.approx(m8["loss"], abs=1e-5)
    assert m1["grad_norm"] == pytest.approx(m8["grad_norm"], rel=1e-4)


def test_adafactor_steps_alike_on_eight_devices_and_keeps_its_own_state(task):
    spec, data, model = task
    adafactor = (dataclasses.replace(spec, adafactor=True), data, model)
    one, _ = one_step(adafactor, 1)
    eight, _ = one_step(adafactor, 8)
    assert_same_params(one, eight)
    assert "FactoredState" in str(jax.tree.structure(eight.opt_state))  # not AdamW's moments


def test_gradient_accumulation_equals_the_full_batch(task):
    full, _ = one_step(task, 2, accum=1)
    accumulated, _ = one_step(task, 2, accum=4)
    assert_same_params(full, accumulated)


def test_shard_map_runs_the_same_step_as_pmap(task):
    pmapped, m_p = one_step(task, 8, mode="pmap")
    sharded, m_s = one_step(task, 8, mode="shard_map")
    assert_same_params(pmapped, sharded, atol=1e-6)
    assert m_p["loss"] == pytest.approx(m_s["loss"], abs=1e-6)


def test_the_sharded_step_equals_the_pmap_step(task, accum=2):
    """fsdp: each device keeps its slice of the state; two steps (the second reads the
    sharded optimizer state, gradients clipped by their global norm, accumulated over two
    micro-batches) give pmap's result."""
    results = {}
    for mode in ("pmap", "fsdp"):
        dp, state, constants = data_parallel(task, mode)
        batch = {"input_ids": task[1].train["input_ids"].reshape(8, accum, -1, SEQ)}
        for _ in range(2):
            state, metrics = dp.train_step(state, batch, constants)
        results[mode] = dp.host_state(state), dp.host_metrics(metrics)
    (pmapped, m_p), (sharded, m_s) = results["pmap"], results["fsdp"]
    assert_same_params(pmapped, sharded, atol=1e-5)
    for x, y in zip(jax.tree.leaves(pmapped.opt_state), jax.tree.leaves(sharded.opt_state),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(x, y, atol=1e-5)
    assert m_p["loss"] == pytest.approx(m_s["loss"], abs=1e-5)
    assert m_p["grad_norm"] == pytest.approx(m_s["grad_norm"], rel=1e-4)


def test_a_device_keeps_about_an_eighth_of_the_state_when_sharded(task):
    """From the start: the optimizer's state is made on the parameters' shards."""
    spec, _, model = task
    params, tx = model.init_params(jax.random.key(0)), make_optimizer(spec, make_schedule(spec, 10))
    whole = sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(TrainState.create(params, tx)))
    sharded = make_parallel("fsdp", jax.devices(), spec, model).new_state(params, tx)
    on_one = sum(leaf.addressable_shards[0].data.nbytes for leaf in jax.tree.leaves(sharded))
    assert on_one < whole / 8 * 1.1, (on_one, whole)


def test_pmap_replicas_are_each_devices_own_copy(task):
    """Each device's replica in a buffer of its own (the step donates and overwrites them
    in place), none of them the host state's, with the state's values."""
    spec, _, model = task
    params = model.init_params(jax.random.key(0))
    state = TrainState.create(params, make_optimizer(spec, make_schedule(spec, 10)))
    replicated = make_parallel("pmap", jax.devices(), spec, model).put_state(state)
    for leaf, replicas in zip(jax.tree.leaves(state), jax.tree.leaves(replicated), strict=True):
        buffers = {shard.data.unsafe_buffer_pointer() for shard in replicas.addressable_shards}
        assert len(buffers) == 8 and leaf.unsafe_buffer_pointer() not in buffers
        np.testing.assert_array_equal(replicas, np.broadcast_to(leaf, replicas.shape))


def test_the_step_changes_params_and_eval_counts_every_example(task):
    spec, data, model = task
    before = model.init_params(jax.random.key(0))
    after, _ = one_step(task, 8)
    assert any(
        not np.allclose(x, y)
        for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after.params), strict=True)
    )
    from tpudeck.core.data.batching import eval_batches

    dp, state, _ = data_parallel(task, params=before)
    params = state.params
    weight = sum(dp.eval_step(params, b)[0]["weight"] for b in eval_batches(data.eval, (8, 1)))
    assert weight == 12  # 12 examples over batches of 8: padding carries no weight


def test_bfloat16_compute_trains_with_float32_master_weights(task):
    spec, data, _ = task
    bf16 = spec.replace(dtype="bfloat16")
    from tpudeck.core.recipes.clm import RECIPE

    model = RECIPE.build(bf16, data)
    state, metrics = one_step((bf16, data, model), 8)
    assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(state.params))
    fp32_state, fp32_metrics = one_step(task, 8)
    assert np.isfinite(metrics["loss"])
    assert metrics["loss"] == pytest.approx(
        fp32_metrics["loss"], rel=2e-2
    )  # bf16 rounding, same model


def test_the_compiled_step_reads_the_learning_rate_it_is_given(task):
    """One compiled program, two schedules: a rate of 0 leaves the weights where they were."""
    dp, state, constants = data_parallel(task, n_devices=1)
    batch = {"input_ids": task[1].train["input_ids"].reshape(1, 1, -1, SEQ)}
    dp.compile(state, batch, constants)
    before = dp.host_state(state).params
    still = constants.replace(schedule=constants.schedule.replace(peak=np.float32(0.0)))
    state, _ = dp.train_step(state, batch, still)
    assert_same_params(dp.host_state(state), TrainState(1, before, None), atol=0)
    state, _ = dp.train_step(state, batch, constants)
    moved = dp.host_state(state).params
    assert any(
        not np.allclose(x, y) for x, y in zip(*map(jax.tree.leaves, (before, moved)), strict=True)
    )


@pytest.mark.parametrize("kind", ["linear", "cosine", "constant"])
def test_the_schedule_is_the_hf_scripts_in_the_step_and_on_the_host(task, kind):
    """The HF scripts' schedule (optax's join of a linear warmup and a decay): as the step
    computes it, and as numpy computes the logged rate."""
    spec = dataclasses.replace(task[0], learning_rate=3e-4, warmup_steps=10, lr_schedule=kind)
    schedule = make_schedule(spec, 50)
    decay = {
        "linear": optax.linear_schedule(3e-4, 0.0, 40),
        "cosine": optax.cosine_decay_schedule(3e-4, 40),
        "constant": optax.constant_schedule(3e-4),
    }[kind]
    theirs = optax.join_schedules([optax.linear_schedule(0.0, 3e-4, 10), decay], [10])
    steps = np.arange(0, 60)
    expected = np.array([theirs(step) for step in steps])
    np.testing.assert_allclose(jax.jit(jax.vmap(schedule))(steps), expected, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose([schedule.on_host(int(s)) for s in steps], expected, rtol=1e-5,
                               atol=1e-12)  # fmt: skip


READ_WITH_ONE_DEVICE = """
import sys
from pathlib import Path
import jax, numpy as np
from tpudeck.core.train.checkpoints import read_state
assert jax.device_count() == 1
params = read_state(Path(sys.argv[1]), 1)["params"]
np.savez(sys.argv[2], **{str(i): leaf for i, leaf in enumerate(jax.tree.leaves(params))})
"""


def test_a_sharded_state_is_checkpointed_from_its_shards_and_read_back_onto_them(task, tmp_path):
    """fsdp: Orbax is handed the state's shards where they live (no whole host copy; on
    several hosts each writes its own), the next step may donate them at once, and a resume
    reads them straight onto the mesh. A process with one device (an export, `tpudeck
    push`) still reads the checkpoint whole."""
    dp, state, constants = data_parallel(task, "fsdp")
    batch = {"input_ids": task[1].train["input_ids"].reshape(8, 1, -1, SEQ)}
    state, _ = dp.train_step(state, batch, constants)
    expected = dp.host_state(state)
    book = Checkpoints(tmp_path, 2, lambda step, path: None)
    book.save(1, dp.checkpoint_state(state), {})
    state, _ = dp.train_step(state, batch, constants)  # donates the arrays being saved
    book.close()

    restored, meta = Checkpoints(tmp_path, 2, print).restore(1, expected, dp.shardings(expected))
    assert meta["step"] == 1
    places = jax.tree.leaves(dp.shardings(expected))
    assert [leaf.sharding for leaf in jax.tree.leaves(restored)] == places
    assert any(leaf.spec != jax.sharding.PartitionSpec() for leaf in places)  # some are split
    assert dp.put_state(restored) is not None
    for x, y in zip(jax.tree.leaves(dp.host_state(restored)), jax.tree.leaves(expected),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(x, y)

    env = {**os.environ, "XLA_FLAGS": ""}
    done = subprocess.run([sys.executable, "-c", READ_WITH_ONE_DEVICE, str(tmp_path),
                           str(tmp_path / "read.npz")], capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    read = np.load(tmp_path / "read.npz")
    for i, leaf in enumerate(jax.tree.leaves(expected.params)):
        np.testing.assert_array_equal(read[str(i)], leaf)


@pytest.fixture(scope="module")
def masked_lm_task(task):
    from tpudeck.core.recipes.mlm import RECIPE as MLM

    spec, data, _ = task
    spec = spec.replace(recipe="mlm", model_type="bert", block_size=None, max_seq_length=SEQ)
    config = {**data.model_config, "mask_token_id": 4, "unmasked_ids": (0,), "padding_id": None,
              "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 64}  # fmt: skip
    data = dataclasses.replace(data, model_config=config)
    return spec, data, MLM.build(spec, data)


@pytest.mark.parametrize("mode", ["shard_map", "fsdp"])
def test_a_masked_lm_steps_alike_in_every_mode(masked_lm_task, mode):
    """Its head's bias goes through the chunked loss, marked varying under shard_map."""
    pmapped, m_pmap = one_step(masked_lm_task, 8)
    other, m_other = one_step(masked_lm_task, 8, mode=mode)
    assert_same_params(pmapped, other)
    assert m_pmap["loss"] == pytest.approx(m_other["loss"], abs=1e-5)
