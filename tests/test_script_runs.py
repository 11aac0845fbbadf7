"""`tpudeck run -- python script.py`: a user's own script under the guard, with its metrics."""

import json
import sys
import textwrap

import pytest

from tpudeck.core.runs.lock import AcceleratorLock
from tpudeck.core.runs.store import RunStore

from .builders import tpudeck
from .fake_os import wait_until

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import sys
    from tensorboardX import SummaryWriter

    out = sys.argv[sys.argv.index("--output_dir") + 1]
    writer = SummaryWriter(out)  # as run_clm_flax.py's summary writer names its scalars
    for step in range(1, 6):
        writer.add_scalar("train_loss", 5.0 / step, step)
        writer.add_scalar("train_learning_rate", 0.001, step)
    writer.add_scalar("eval_loss", 1.5, 5)
    writer.close()
    import os
    print("metrics ports", os.environ.get("TPU_RUNTIME_METRICS_PORTS"))
    print("ORIGINAL script done", flush=True)
    """
)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "run_clm_mine.py"
    path.write_text(SCRIPT)
    return path


def test_script_runs_under_the_lock_and_its_tensorboard_scalars_become_events(
    tpudeck_home, script, tmp_path
):
    result = tpudeck(
        "run", "--", sys.executable, str(script), "--output_dir", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    assert "ORIGINAL script done" in result.stdout
    assert "metrics ports 8431" in result.stdout  # libtpu would serve the chips' figures
    (record,) = RunStore().list()
    assert record.state == "finished" and record.status["exit_code"] == 0
    steps = record.run_dir.read_events("step")
    assert [(e["step"], e["loss"]) for e in steps] == [
        (s, pytest.approx(5.0 / s)) for s in range(1, 6)
    ]
    assert steps[0]["lr"] == pytest.approx(0.001)
    (evaluation,) = record.run_dir.read_events("eval")
    assert (evaluation["step"], evaluation["loss"]) == (5, 1.5)
    holders = (tpudeck_home / "locks" / "holders.jsonl").read_text().splitlines()
    assert [json.loads(h)["event"] for h in holders] == ["acquired", "released"]


def test_script_is_copied_at_launch_so_edits_while_queued_do_not_run(
    tpudeck_home, script, tmp_path
):
    blocker = AcceleratorLock(tpudeck_home)
    assert blocker.try_acquire("held-by-the-test")
    launched = tpudeck(
        "run", "--detach", "--", sys.executable, str(script), "--output_dir", str(tmp_path / "o")
    )
    assert launched.returncode == 0 and "waiting-for-accelerator" in launched.stdout
    script.write_text('print("EDITED script ran")\n')
    blocker.release()
    (record,) = RunStore().list()
    wait_until(lambda: RunStore().list()[0].state == "finished", timeout=60)
    log = record.run_dir.log_path.read_text()
    assert "ORIGINAL script done" in log and "EDITED" not in log


def test_failed_script_names_libtpu_busy_from_its_log(tpudeck_home, tmp_path):
    failing = tmp_path / "busy.py"
    failing.write_text(
        "import sys\n"
        "print('RuntimeError: TPU initialization failed: The TPU is already in use by process with pid 4321."
        " Not attempting to load libtpu.so in this process.', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    result = tpudeck("run", "--", sys.executable, str(failing))
    assert result.returncode == 1
    (record,) = RunStore().list()
    assert record.state == "failed" and record.status["exit_code"] == 1
    assert "TPU is already in use by process with pid 4321" in record.status["message"]
    assert "tpudeck who" in record.status["message"]


def test_tensorboard_tail_holds_a_step_back_until_its_scalars_are_complete(tmp_path):
    from tensorboardX import SummaryWriter

    from tpudeck.core.runs.tensorboard_tail import TensorBoardTail

    def write(subdir: str, scalars) -> None:  # closed writers: the records are on disk
        with SummaryWriter(str(tmp_path / subdir)) as writer:
            for tag, value, step in scalars:
                writer.add_scalar(tag, value, step)

    tail = TensorBoardTail(tmp_path)
    write("a", [("train_loss", 2.0, 1)])
    assert tail.read_events() == []  # step 1 may still get its learning rate
    write("b", [("train_learning_rate", 0.1, 1), ("train_loss", 1.0, 2)])
    assert tail.read_events() == [("step", {"step": 1, "loss": 2.0, "lr": pytest.approx(0.1)})]
    assert tail.read_events(final=True) == [("step", {"step": 2, "loss": 1.0})]


HF_PRINTING_SCRIPT = textwrap.dedent(
    """
    import time
    from tqdm import tqdm

    # run_clm_flax.py without TensorFlow: no TensorBoard files, only what it prints
    print("INFO - ***** Running training *****")
    print("INFO -   Total optimization steps = 6", flush=True)
    epochs = tqdm(range(2), desc="Epoch ... ", position=0)
    for epoch in epochs:
        for step in tqdm(range(1, 4), desc="Training...", position=1, leave=False):
            cur_step = epoch * 3 + step
            time.sleep(0.3)
            epochs.write(f"Step... ({cur_step} | Loss: {5.0 / cur_step}, Learning Rate: 0.0003)")
        epochs.desc = f"Step... ({cur_step} | Eval Loss: {2.0 / cur_step} | Eval Perplexity: 4.5)"
        epochs.write(epochs.desc)
    """
)


def test_an_hf_scripts_printed_metrics_become_steps_progress_and_evals(tpudeck_home, tmp_path):
    script = tmp_path / "run_clm_flax.py"
    script.write_text(HF_PRINTING_SCRIPT)
    result = tpudeck("run", "--", sys.executable, str(script), "--output_dir", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    (record,) = RunStore().list()
    steps = record.run_dir.read_events("step")
    assert [(e["step"], e["loss"], e["total_steps"]) for e in steps] == [
        (s, pytest.approx(5.0 / s), 6) for s in range(1, 7)
    ]
    assert 0.5 < steps[-1]["steps_per_s"] < 10  # a step each 0.3 s, read each second
    assert steps[-2]["eta_s"] == pytest.approx(1 / steps[-2]["steps_per_s"])  # one step left
    evals = record.run_dir.read_events("eval")
    assert [(e["step"], e["loss"], e["perplexity"]) for e in evals] == [
        (3, pytest.approx(2.0 / 3), 4.5),
        (6, pytest.approx(2.0 / 6), 4.5),
    ]
    (row,) = json.loads(tpudeck("ls", "--json").stdout)
    assert (row["step"], row["total_steps"], row["loss"]) == (6, 6, pytest.approx(5.0 / 6))


def test_printed_metrics_wait_for_the_end_of_their_line_and_read_mlm_evals(tmp_path):
    from tpudeck.core.runs.script_output import ScriptOutputTail

    log = tmp_path / "stdout.log"
    log.write_text("Training...:  10%|#  | 1/10 [00:01<00:09]\rStep... (20 | Loss: 3.5, Learn")
    tail = ScriptOutputTail(log)
    assert tail.read_events() == []  # the step line is not whole yet
    with open(log, "a") as f:
        f.write("ing Rate: 1e-04)\nStep... (20 | Loss: 3.25, Acc: 0.41)\r")
    assert tail.read_events() == [
        ("step", {"step": 20, "loss": 3.5, "lr": 1e-4}),
        ("eval", {"step": 20, "loss": 3.25, "accuracy": 0.41}),
    ]
