"""The trainer process: prepare data (no jax), then start the backend and train.

Everything a user can get wrong is checked in the first phase, before any device is
touched; the accelerator lock will be taken between the two phases.
"""

from __future__ import annotations

import logging
import os
import signal
import traceback

from ..errors import TpudeckError
from ..registry import get_recipe
from ..runs.attempt import LaunchAttempt
from ..runs.guard import Cancelled, wait_for_chain
from ..runs.home import tpudeck_home
from ..runs.launcher import report
from ..runs.notices import announce_end
from ..runs.queue import Place
from ..runs.rundir import RunDir, remove_stale_temps
from .apart import run_apart
from .preflight import preflight
from .processes import FollowerRunDir, Processes
from .startup import Startup

log = logging.getLogger(__name__)

EXIT_CODES = {"finished": 0, "stopped": 0, "diverged": 3}


class RunCancelled(Exception):
    """SIGTERM/SIGINT arrived before the run held the accelerator."""


class RunRefused(TpudeckError):
    """The input was refused while preparing; the run directory is as the launch found it."""


def run_training(
    spec, run_dir: RunDir, resume: bool = False, wait: bool = True, place: Place | None = None
) -> str:
    """Train `spec` into `run_dir` and return the final state; failures go to status.json.

    Until the input is accepted (data prepared, every check passed) a refusal undoes the
    launch (runs/attempt.py) and raises RunRefused; after it, failures are the run's own.
    """
    startup = Startup()
    processes = Processes.from_env()  # the leader: the others run run_follower
    attempt = LaunchAttempt.pending(run_dir) or LaunchAttempt.begin(run_dir, spec.to_json())
    log_file = _log_to_run_dir(run_dir)
    run_dir.write_status("preparing")
    remove_stale_temps(run_dir.path)
    lock = hub = None
    accepted = False
    try:
        hub = _open_hub(spec, run_dir)
        spec, recipe, data = _prepare(spec, run_dir, startup)
        preflight(spec, run_dir, data, resume)
        attempt.accept()
        accepted = True
        report(prepared=True)
        if hub:
            hub.start()
        with startup.phase("wait"):
            lock = _take_accelerator(spec, run_dir, wait, place)
        devices = _start_jax(spec, startup, processes)
        return _train(spec, run_dir, recipe, data, devices, startup, resume, hub)
    except RunCancelled:
        run_dir.write_status("stopped", message="cancelled before it held the accelerator")
        return "stopped"
    except Cancelled as exc:  # the run it was chained after failed: say why, not "failed"
        return exc.record(run_dir)
    except TpudeckError as exc:
        if not accepted:
            _close_log(log_file)
            log_file = None
            attempt.refuse()
            report(error=str(exc))
            raise RunRefused(str(exc)) from None
        run_dir.emit("error", message=str(exc))
        run_dir.write_status("failed", message=str(exc))
        raise
    except Exception as exc:
        report(error=f"{type(exc).__name__}: {exc}; see {run_dir.log_path}")
        run_dir.emit(
            "error", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )
        run_dir.write_status("failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if lock:
            lock.release()
        if hub and accepted:  # after the release: the next run need not wait for our upload
            _finish_pushes(hub)
        if accepted:
            announce_end(run_dir)
        _close_log(log_file)


def run_follower(
    spec, run_dir: FollowerRunDir, resume: bool, wait: bool, processes: Processes
) -> str:
    """A process other than 0 of a run of several: the leader's data, model and steps on its
    own devices, under its host's accelerator lock; the run's records are the leader's. It
    writes nothing before it has joined the leader, which joins once it has checked the
    run directory (as the user left it) and accepted the run."""
    startup = Startup()
    lock = log_file = None
    try:
        if not processes.host_of_0:  # else process 0's lock holds this host for the run
            with startup.phase("wait"):
                lock = _take_accelerator(spec, run_dir, wait, place=None)
        devices = _start_jax(spec, startup, processes)
        run_dir.path.mkdir(parents=True, exist_ok=True)  # on another host, its first file
        log_file = _log_to_run_dir(run_dir)
        spec, recipe, data = _prepare(spec, run_dir, startup)
        return _train(spec, run_dir, recipe, data, devices, startup, resume, hub=None)
    finally:
        if lock:
            lock.release()
        _close_log(log_file)


def _prepare(spec, run_dir: RunDir, startup: Startup):
    """(spec with its Hub ids fetched, recipe, data): everything before the accelerator.
    Examples that come back as files are prepared in a child process (apart.py) while this
    one imports the training code."""
    recipe = get_recipe(spec.recipe)
    with startup.phase("data"):  # downloads, reading, tokenising
        if recipe.examples_in_files and not spec.streaming:  # a stream is read while training
            spec, data = run_apart(_import_training, _prepared, spec, run_dir)
        else:
            spec, data = _prepared(spec, run_dir)
    data = data.limited(spec.max_train_samples, spec.max_eval_samples)  # views: not sent
    log.info("data: %s", data.summary)
    return spec, recipe, data


def _prepared(spec, run_dir: RunDir):
    spec = _fetch_pretrained(spec, run_dir)
    return spec, get_recipe(spec.recipe).prepare(spec, run_dir)


def _import_training() -> None:
    """The trainer's imports, which start no backend: the accelerator is not taken."""
    import orbax.checkpoint  # noqa: F401

    from . import loop  # noqa: F401  jax, flax, optax and the step


def _start_jax(spec, startup: Startup, processes: Processes) -> list:
    with startup.phase("jax"):
        from .backend import start_backend

        devices = start_backend(spec.platform, tpudeck_home() / "cache" / "jax", processes)
    log.info("devices: %d x %s (%s)%s", len(devices), devices[0].device_kind, devices[0].platform,
             f", process {processes.index} of {processes.count}" * (processes.count > 1))  # fmt: skip
    return devices


def _train(spec, run_dir, recipe, data, devices, startup: Startup, resume: bool, hub) -> str:
    with startup.phase("model"):  # the trainer's imports, reading a checkpoint's weights
        model = recipe.build(spec, data)
        from .loop import Trainer
    log.info("model: %s, %s parameters", spec.model_type, f"{model.param_count:,}")
    trainer = Trainer(spec, run_dir, data, model, devices, startup, spec.parallelism, hub)
    return trainer.run(resume)


def _close_log(handler: logging.Handler | None) -> None:
    if handler:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _open_hub(spec, run_dir: RunDir):
    """With --push_to_hub, check token and repo now, before data or the accelerator."""
    if not spec.push_to_hub:
        return None
    from ..hub.sync import HubSync

    run_name = spec.run_name or run_dir.run_id
    hub = HubSync.open(run_dir, spec.hub_model_id, run_name, spec.hub_private, spec.hub_strategy)
    log.info("pushing to %s (%s)", hub.repo_id, spec.hub_strategy)
    return hub


def _fetch_pretrained(spec, run_dir: RunDir):
    """The spec with its Hub ids as folders in huggingface_hub's cache (downloaded now, with
    `prepare` events for the Run screen), checked again now that their configs are here."""
    from ..hub.pretrained import fetch

    def downloading(repo: str, done: int, total: int) -> None:
        run_dir.emit("prepare", stage="downloading", what=repo, done=done, total=total, unit="B")
        log.info("downloading %s: %.1f of %.1f MB", repo, done / 1e6, total / 1e6)

    local = fetch(spec, downloading)
    if local is not spec:
        local.validate()
    return local


def _finish_pushes(hub) -> None:
    """Wait for the last push; Ctrl-C or SIGTERM leaves it for `tpudeck push`."""
    log.info("sending the last snapshot to %s (Ctrl-C leaves it for later)", hub.repo_id)

    def abandon(signum, _frame):
        hub.abandon()

    previous = {s: signal.signal(s, abandon) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not hub.close():
            log.warning(
                "the last push did not land: `tpudeck push %s` sends it", hub.run_dir.run_id
            )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _take_accelerator(spec, run_dir: RunDir, wait: bool, place: Place | None):
    """Wait in the FIFO for the accelerator lock (not for --platform cpu runs, which wait
    only for the run they are chained after)."""
    if spec.platform == "cpu":
        wait_for_chain(run_dir, place)
        return None
    from ..runs.guard import acquire_accelerator

    def cancel(signum, _frame):
        raise RunCancelled(signal.Signals(signum).name)

    previous = {s: signal.signal(s, cancel) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        lock = acquire_accelerator(tpudeck_home(), run_dir, wait, place=place)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("holding the accelerator lock")
    return lock


def _log_to_run_dir(run_dir: RunDir) -> logging.Handler | None:
    """Copy the log into stdout.log, unless stdout already is that file (a detached launch)."""
    try:
        out, log_file = os.fstat(1), os.stat(run_dir.log_path)
        if (out.st_dev, out.st_ino) == (log_file.st_dev, log_file.st_ino):
            return None
    except OSError:
        pass
    handler = logging.FileHandler(run_dir.log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.getLogger().addHandler(handler)
    return handler
