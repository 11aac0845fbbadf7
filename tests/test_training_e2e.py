"""The real trainer in child processes: loss falls, export round-trips, stop and resume are exact."""

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest

from tpudeck.core.runs.event_summary import load_summary
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.train.checkpoints import read_state

from .builders import legacy_checkpoint, start_tpudeck, tpudeck

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> RunDir:
    """The embedded demo, shortened, trained once on 8 devices for the tests below; its log
    names each program jax compiles (JAX_LOG_COMPILES)."""
    out = tmp_path_factory.mktemp("demo") / "run"
    result = tpudeck(
        "train",
        "--demo",
        "--max_steps",
        "120",
        "--eval_steps",
        "60",
        "--save_steps",
        "50",
        "--output_dir",
        str(out),
        env={**os.environ, "JAX_LOG_COMPILES": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert f"run directory: {out}" in result.stdout
    return RunDir(out)


def test_demo_loss_falls_within_120_steps(demo_run):
    steps = demo_run.read_events("step")
    evals = demo_run.read_events("eval")
    assert [e["step"] for e in steps] == list(range(10, 121, 10))
    assert steps[0]["loss"] > 4.0
    assert evals[-1]["step"] == 120 and evals[-1]["loss"] < 2.0
    assert evals[-1]["perplexity"] == pytest.approx(np.exp(evals[-1]["loss"]), rel=1e-6)
    assert evals[0]["loss"] > evals[-1]["loss"]


def test_nothing_compiles_between_the_startup_and_the_first_evaluation(demo_run):
    """Every program a run needs before its first evaluation is made during the startup;
    the logged learning rate, once computed by jax op by op, compiled a program per
    operation inside the first logging window."""
    lines = demo_run.log_path.read_text().splitlines()
    started = next(i for i, line in enumerate(lines) if " startup " in line)
    before_eval = next(i for i, line in enumerate(lines) if "step 60/120" in line)
    assert any("Compiling" in line for line in lines[:started])  # the log names compiles
    assert [line for line in lines[started:before_eval] if "Compiling" in line] == []
    assert "step 10/120" in "\n".join(lines[started:before_eval])


def test_run_directory_holds_the_whole_contract(demo_run):
    status = json.loads(demo_run.status_path.read_text())
    assert status["state"] == "finished" and status["step"] == 120 and status["total_steps"] == 120
    assert json.loads(demo_run.spec_path.read_text())["model_size"] == "demo"
    (compile_event,) = demo_run.read_events("compile")
    assert compile_event["seconds"] > 0 and compile_event["devices"] == 8
    assert compile_event["memory_bytes"] > 12 * 140_864  # the state, at least (XLA says more)
    step = demo_run.read_events("step")[-1]
    assert step["tokens_per_s"] > 0 and step["examples_per_s"] > 0 and step["lr"] >= 0
    assert step["mfu"] is None  # CPU has no peak FLOPs: shown as n/a, never invented
    assert step["tokens_per_s"] == pytest.approx(step["examples_per_s"] * 64, rel=1e-3)
    summary = load_summary(demo_run.events_path)  # refreshed at each checkpoint
    summarised = [
        e for e in demo_run.read_events("step") if e["step"] <= summary.latest["step"]["step"]
    ]
    assert summary.offset > 0 and list(summary.loss.x) == [e["step"] for e in summarised]
    assert list(summary.loss.y) == [e["loss"] for e in summarised]
    assert [e["step"] for e in demo_run.read_events("checkpoint")] == [50, 100, 120]
    assert sorted(p.name for p in demo_run.checkpoints_dir.iterdir()) == ["step_100", "step_120"]
    assert any(demo_run.tensorboard_dir.glob("events.out.tfevents.*"))
    assert "step 120/120" in demo_run.log_path.read_text()
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in demo_run.model_dir.iterdir()
    }


def test_exported_model_opens_in_transformers_with_equal_logits(demo_run):
    import jax.numpy as jnp
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tpudeck.core.data.tokenizer import load_tokenizer
    from tpudeck.core.models.family import get_family

    text = "On Monday Ada and the small cat went to the forest."
    theirs_tok = AutoTokenizer.from_pretrained(demo_run.model_dir)
    ids = theirs_tok(text)["input_ids"]
    assert ids == load_tokenizer(demo_run.model_dir).encode(text).ids
    theirs = AutoModelForCausalLM.from_pretrained(demo_run.model_dir).eval()
    with torch.no_grad():
        out = theirs(torch.tensor([ids]), labels=torch.tensor([ids]))
    config, params = get_family("gpt2").load(demo_run.model_dir)
    ours = get_family("gpt2").module(config).apply({"params": params}, jnp.asarray([ids]))
    np.testing.assert_allclose(np.asarray(ours), out.logits.numpy(), atol=1e-4)
    assert out.loss.item() < 2.5  # the trained weights, not a random init, came through


def wait_for_event(run: RunDir, predicate, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in run.read_events() if predicate(e)]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no such event in {run.events_path} after {timeout} s")


def wait_for_orbax_write(checkpoints_dir, timeout: float = 180):
    """The folder of the checkpoint Orbax is writing, as soon as it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if writing := next(checkpoints_dir.glob("step_*.orbax-checkpoint-tmp"), None):
            return writing
        time.sleep(0.001)
    raise AssertionError(f"no checkpoint was written in {checkpoints_dir} after {timeout} s")


RESUME_ARGS = (
    "--demo",
    "--max_steps",
    "80",
    "--logging_steps",
    "1",
    "--save_steps",
    "20",
    "--eval_steps",
    "10000",
    "--dropout",
    "0.1",
)


@pytest.mark.parametrize("data", ["in memory", "streamed"])
def test_kill_9_then_resume_continues_the_same_loss_curve(tmp_path, data, monkeypatch):
    """Streamed (--streaming), the data position is the stream's saved state, not the step."""
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")  # the store's own cache, cold
    args = (*RESUME_ARGS, *(["--streaming"] if data == "streamed" else []))
    reference = RunDir(tmp_path / "uninterrupted")
    assert tpudeck("train", *args, "--output_dir", str(reference.path)).returncode == 0

    run = RunDir(tmp_path / "killed")
    child = start_tpudeck("train", *args, "--output_dir", str(run.path))
    wait_for_event(run, lambda e: e["kind"] == "checkpoint" and e["step"] == 40)
    writing = wait_for_orbax_write(run.checkpoints_dir)  # step 60's, in the background
    child.kill()
    child.wait()
    assert run.read_status()["state"] == "training"  # killed hard: nothing wrote a final state
    # Killed mid-write (almost always; tests/test_checkpoints_and_rundir.py makes sure of it
    # with a large state): the resume starts from 40, else from the 60 it finished.
    last_whole = 40 if writing.exists() else 60

    resumed = tpudeck("train", "--resume", "--output_dir", str(run.path))
    assert resumed.returncode == 0, resumed.stderr
    events = run.read_events()
    resume_at = max(i for i, e in enumerate(events) if e["kind"] == "resume")
    assert events[resume_at]["step"] == last_whole
    after = {e["step"]: e["loss"] for e in events[resume_at:] if e["kind"] == "step"}
    expected = {e["step"]: e["loss"] for e in reference.read_events("step")}
    assert min(after) == events[resume_at]["step"] + 1 and max(after) == 80
    np.testing.assert_allclose([after[s] for s in after], [expected[s] for s in after], rtol=1e-6)
    assert run.read_status()["state"] == "finished"
    # jax's persistent compilation cache in the store: only the first run compiled the step
    assert reference.read_events("compile")[0]["cached"] is False
    (startup,) = reference.read_events("startup")  # where the time before step 1 went
    phases = ("imports", "data", "wait", "jax", "model", "compile", "init", "replicate")
    assert list(startup)[2:] == list(phases) and all(startup[p] >= 0 for p in phases)
    assert startup["compile"] >= reference.read_events("compile")[0]["seconds"]
    assert [e["cached"] for e in events if e["kind"] == "compile"][-1] is True  # the resume's


def test_a_run_saved_before_orbax_resumes_from_its_msgpack_checkpoint(demo_run, tmp_path):
    """A run checkpointed by tpudeck before Orbax (step-N/state.msgpack) resumes where it was."""
    run = RunDir(shutil.copytree(demo_run.path, tmp_path / "run"))
    meta = json.loads((run.checkpoints_dir / "step_100" / "meta" / "metadata").read_text())
    state = read_state(run.checkpoints_dir, 100)
    for orbax in run.checkpoints_dir.glob("step_*"):
        shutil.rmtree(orbax)
    legacy_checkpoint(run.checkpoints_dir, 100, state, {k: meta[k] for k in meta if k != "step"})
    resumed = tpudeck("train", "--resume", "--output_dir", str(run.path))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from step 100" in resumed.stderr
    events = run.read_events()
    resume_at = max(i for i, e in enumerate(events) if e["kind"] == "resume")
    after = {e["step"]: e["loss"] for e in events[resume_at:] if e["kind"] == "step"}
    expected = {e["step"]: e["loss"] for e in demo_run.read_events("step") if e["step"] > 100}
    assert list(after) == list(expected) == [110, 120]
    np.testing.assert_allclose(list(after.values()), list(expected.values()), rtol=1e-6)
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == ["step-100", "step_120"]


def test_sigterm_finishes_the_step_checkpoints_and_stops(tmp_path):
    """Under the sharded mode (its step equals pmap's: test_data_parallel_step.py), so the
    stop's checkpoint is saved from the shards and the resume puts it back into them."""
    run = RunDir(tmp_path / "run")
    child = start_tpudeck("train", "--demo", "--max_steps", "5000", "--parallelism", "fsdp",
                          "--output_dir", str(run.path))  # fmt: skip
    wait_for_event(run, lambda e: e["kind"] == "step" and e["step"] >= 20)
    os.kill(child.pid, signal.SIGTERM)
    assert child.wait(timeout=120) == 0
    status = run.read_status()
    assert status["state"] == "stopped" and "SIGTERM" in status["message"]
    assert (run.checkpoints_dir / f"step_{status['step']}").is_dir()
    assert run.read_events("export")[-1]["step"] == status["step"]
    assert (run.model_dir / "model.safetensors").is_file()

    longer = status["step"] + 10  # resume detached with a changed setting: it is what runs
    resumed = tpudeck(
        "train", "--resume", "--detach", "--output_dir", str(run.path), "--max_steps", str(longer)
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(run.spec_path.read_text())["max_steps"] == longer
    deadline = time.monotonic() + 120
    while run.read_status().get("state") != "finished" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (
        run.read_status()["step"] == longer
        and run.read_events("resume")[-1]["step"] == status["step"]
    )


def test_a_relaunch_with_another_schedule_finds_its_step_in_the_compile_cache(
    tmp_path, monkeypatch
):
    """The schedule's numbers are an argument of the compiled step, not constants in it:
    a sweep over --learning_rate, --warmup_steps and --max_steps compiles once."""
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")  # the store's own cache, cold
    first, second = RunDir(tmp_path / "first"), RunDir(tmp_path / "second")
    shape = ("--demo", "--logging_steps", "1", "--platform", "cpu")
    assert tpudeck("train", *shape, "--max_steps", "3", "--output_dir",
                   str(first.path)).returncode == 0  # fmt: skip
    other = ("--max_steps", "4", "--learning_rate", "1e-3", "--warmup_steps", "2")
    assert tpudeck("train", *shape, *other, "--output_dir", str(second.path)).returncode == 0
    assert [e["cached"] for e in first.read_events("compile")] == [False]
    assert [e["cached"] for e in second.read_events("compile")] == [True]
    lrs = [e["lr"] for e in second.read_events("step")]  # warmup over 2 steps, then decay
    np.testing.assert_allclose(lrs, [0.0, 5e-4, 1e-3, 5e-4], rtol=1e-6)


def test_a_run_with_scanned_layers_trains_and_exports_as_an_unrolled_one(tmp_path):
    """--scan_layers changes how the step compiles, not what it computes: from the same
    seed, the same first weights, losses and exported checkpoint (without dropout, whose
    keys a scanned layer draws for itself)."""
    from safetensors.numpy import load_file

    runs = {}
    for scan in ((), ("--scan_layers",)):
        runs[bool(scan)] = run = RunDir(tmp_path / ("scanned" if scan else "unrolled"))
        flags = ("--demo", "--platform", "cpu", "--dropout", "0", "--max_steps", "10",
                 "--logging_steps", "5", *scan, "--output_dir", str(run.path))  # fmt: skip
        done = tpudeck("train", *flags)
        assert done.returncode == 0, done.stderr
    unrolled, scanned = ([e["loss"] for e in runs[s].read_events("step")] for s in (False, True))
    assert len(scanned) == 2 and scanned == pytest.approx(unrolled, rel=1e-5)
    exported = [load_file(runs[s].model_dir / "model.safetensors") for s in (False, True)]
    assert exported[1].keys() == exported[0].keys()  # transformer.h.0..., not a stack
    for name, tensor in exported[0].items():
        np.testing.assert_allclose(exported[1][name], tensor, atol=1e-6, err_msg=name)
