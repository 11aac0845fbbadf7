"""The recipe-agnostic training loop: data-parallel steps, eval, checkpoints, events.

Timing is honest: metrics are fetched (which blocks on the device) only at logging steps,
and throughput is the work done between two such fetches over the wall time between them.
The first step's compile is done ahead of time and reported on its own.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import signal
import time

import jax
import numpy as np

from ..data.batching import eval_batches, step_batches
from ..devices.memory_fit import size_text
from ..errors import DiskFull, is_disk_full
from ..runs.event_summary import refresh_summary
from ..runs.rundir import list_steps
from .checkpoints import Checkpoints
from .compile_cache import CacheLookups
from .host_memory import give_back_freed_heap
from .mfu import mfu
from .optimizer import make_optimizer, make_schedule
from .parallel import make_parallel
from .preflight import check_global_batch
from .startup import Startup
from .step import StepConstants, TrainState
from .tensorboard import TensorBoardSink

log = logging.getLogger(__name__)


class Trainer:
    """Trains one TaskModel on one TaskData over `devices`, writing into `run_dir`."""

    def __init__(self, spec, run_dir, data, model, devices, startup: Startup, mode: str = "pmap",
                 hub=None):  # fmt: skip
        self.spec, self.run_dir, self.data, self.model = spec, run_dir, data, model
        self.startup = startup  # the phases before the first step, reported after compiling
        self.devices = devices
        self.hub = hub  # a HubSync with --push_to_hub: it uploads, we only snapshot
        per_device = spec.per_device_batch(len(devices))
        self.micro_shape = (len(devices), spec.gradient_accumulation_steps, per_device)
        self.global_batch = int(np.prod(self.micro_shape))
        self.batches = step_batches(data.train, self.global_batch, spec.seed)
        if self.batches.n_examples is not None:  # if preflight could not; a stream: unknown
            check_global_batch(spec, self.batches.n_examples, len(devices))
        self.total_steps = spec.max_steps or math.ceil(
            spec.num_train_epochs * self.batches.steps_per_epoch
        )
        self.schedule = make_schedule(spec, self.total_steps)
        # The logged rate comes from a host copy of its numbers, by numpy: jax op by op
        # compiled a program per operation at the first log (~0.4 s of the first window),
        # and each log would read the numbers back from the device.
        self.host_schedule = jax.device_get(self.schedule)
        self.leader = jax.process_index() == 0  # of several processes, the one that writes
        if jax.process_count() > 1 and mode == "pmap":  # pmap feeds one host's devices
            log.info("%d processes: training under shard_map", jax.process_count())
            mode = "shard_map"
        self.parallel = make_parallel(mode, devices, spec, model)
        self.rows = self.parallel.local_rows()
        self.init_key = jax.random.split(jax.random.key(spec.seed))[0]  # its weights as ever
        self.constants = StepConstants.of_seed(spec.seed, self.schedule)
        self.stop_signal: str | None = None
        self.checkpoints = Checkpoints(run_dir.checkpoints_dir, spec.save_total_limit, self._saved)
        self.push_when_saved: int | None = None  # a push that carries that step's checkpoint

    # -- lifecycle ---------------------------------------------------------------------

    def run(self, resume: bool) -> str:
        """Train to the end or to a stop signal; returns the final state name."""
        tx = make_optimizer(self.spec, self.schedule)
        template = jax.eval_shape(
            lambda: TrainState.create(self.model.init_params(self.init_key), tx)
        )
        steps = list_steps(self.run_dir.checkpoints_dir) if resume else []
        if resume and not steps:
            log.info("no checkpoint in %s: starting from step 0", self.run_dir.checkpoints_dir)
        self._install_signal_handlers()
        self.tb = TensorBoardSink(self.run_dir.tensorboard_dir if self.leader else None)
        try:
            # The step first: it compiles from the state's shapes, while no state (nor what
            # compiling the init left) takes the host's memory beside the compiler's.
            with self.startup.phase("compile"):
                self._compile(self.parallel.abstract_state(template), steps[-1] if steps else 0)
                give_back_freed_heap()
            with self.startup.phase("init"):  # fresh weights, or the checkpoint resumed
                initial, start = self._initial_state(tx, template, steps)
            with self.startup.phase("replicate"):
                state = self.parallel.put_state(initial)
            del initial  # else a second copy of the state (pmap: on device 0) for the run
            # jax's caches keep every program run so far (the init's, the optimizer state's)
            # and their traces; training needs only the step, compiled ahead and held by
            # self.parallel. Let go, with what compiling them freed: the peak RSS of a
            # RoBERTa of 4 x 256 730 -> 695 MB, of a GPT-2 of 2 x 256 546 -> 522 MB.
            jax.clear_caches()
            give_back_freed_heap()
            self.startup.report(self.run_dir)
            return self._train(state, start)
        finally:
            self.tb.close()
            self.checkpoints.close()

    def _initial_state(self, tx, template, steps: list[int]):
        if not steps:
            return self.parallel.new_state(self.model.init_params(self.init_key), tx), 0
        state, meta = self.checkpoints.restore(steps[-1], template,
                                               self.parallel.shardings(template))  # fmt: skip
        self.batches.restore(meta)
        epoch, index = self.batches.position(meta["step"])
        log.info("resumed from step %d (epoch %d, batch %d)", meta["step"], epoch, index)
        self.run_dir.emit("resume", step=meta["step"], epoch=epoch, batch_in_epoch=index)
        return state, meta["step"]

    def _install_signal_handlers(self) -> None:
        def request_stop(signum, _frame):
            self.stop_signal = signal.Signals(signum).name
            log.info("%s received: finishing this step, then checkpointing", self.stop_signal)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, request_stop)

    def _compile(self, state, start: int) -> None:
        self.run_dir.write_status("compiling", step=start, total_steps=self.total_steps)
        began = time.perf_counter()
        with CacheLookups() as lookups:
            self.parallel.compile(state, self._batch(start), self.constants)
        seconds = time.perf_counter() - began
        cached = lookups.hits > 0 and lookups.hits == lookups.requests
        memory = self.parallel.compiled_memory()  # state, batch, outputs and temporaries
        log.info("compiled the train step in %.1f s%s%s", seconds, " (from the cache)" * cached,
                 f"; it needs {size_text(memory)} per device" if memory else "")  # fmt: skip
        self.run_dir.emit(
            "compile", seconds=round(seconds, 3), devices=len(self.devices), cached=cached,
            platform=self.devices[0].platform, device_kind=self.devices[0].device_kind,
            memory_bytes=memory,
        )  # fmt: skip

    # -- the loop ----------------------------------------------------------------------

    def _train(self, state, start: int) -> str:
        spec = self.spec
        self.run_dir.write_status("training", step=start, total_steps=self.total_steps)
        window_start, window_step = time.perf_counter(), start
        self.pace = (window_start, start)  # whole-run pace for the ETA: evals and saves recur
        previous = None
        for step in range(start, self.total_steps):
            state, metrics = self.parallel.train_step(state, self._batch(step), self.constants)
            # Wait for step N-1 while step N is queued: the device stays busy, and no more
            # than two steps are in flight (many in-flight collectives deadlock XLA:CPU's
            # fake devices, and a host far ahead of the device only adds latency).
            jax.block_until_ready(previous)
            previous = metrics
            done = step + 1
            last = done == self.total_steps
            stopping = self._stopping(done % spec.logging_steps == 0 or last)
            if done % spec.logging_steps == 0 or last or stopping:
                values = self.parallel.host_metrics(metrics)  # blocks: the clock reads true time
                now = time.perf_counter()
                self._log_step(done, values, (done - window_step) / (now - window_start))
                window_start, window_step = time.perf_counter(), done
                if not math.isfinite(values["loss"]):
                    return self._finish(
                        state, done, "diverged", f"loss became {values['loss']} at step {done}"
                    )
            if spec.eval_steps and done % spec.eval_steps == 0 and not last:
                self._evaluate(state, done)
                window_start = time.perf_counter()  # eval time is not training throughput
            if stopping:
                return self._finish(
                    state, done, "stopped", f"stopped by {self.stop_signal} at step {done}"
                )
            self.checkpoints.settle()
            if done % spec.save_steps == 0 and not last:
                self._save(state, done)
                window_start = time.perf_counter()
        self._evaluate(state, self.total_steps)
        return self._finish(state, self.total_steps, "finished", "")

    def _stopping(self, logging: bool) -> bool:
        """Whether to stop after this step. The processes of a run of several must stop at
        the same step (a step that one of them skips never ends for the others): they agree
        at each logging step, a SIGTERM to any of them stopping all."""
        if jax.process_count() == 1:
            return self.stop_signal is not None
        if not logging:
            return False
        from jax.experimental import multihost_utils

        asked = multihost_utils.process_allgather(np.array(self.stop_signal is not None))
        if asked.any() and not self.stop_signal:
            self.stop_signal = f"a stop of process {int(np.argmax(asked))}"
        return bool(asked.any())

    def _batch(self, step: int):
        return self.parallel.put_batch(self.batches.batch(step, self.micro_shape, self.rows))

    def _seconds_left(self, step: int) -> float:
        """At the pace since training (re)started, evaluations and saves included: steadier
        than one logging window's, and it counts the pauses that will come again."""
        started, first = self.pace
        return (self.total_steps - step) * (time.perf_counter() - started) / max(1, step - first)

    def _log_step(self, step: int, values: dict, steps_per_s: float) -> None:
        examples_per_s = steps_per_s * self.global_batch
        tokens_per_s = examples_per_s * self.data.tokens_per_example
        flops = examples_per_s * self.model.flops_per_example
        utilisation = mfu(flops, self.devices[0].device_kind, len(self.devices))
        lr = self.host_schedule.on_host(step - 1)
        epoch = self.batches.position(step - 1)[0]
        fields = dict(
            step=step,
            total_steps=self.total_steps,
            epoch=epoch,
            loss=values["loss"],
            lr=lr,
            grad_norm=values["grad_norm"],
            steps_per_s=round(steps_per_s, 4),
            eta_s=round(self._seconds_left(step), 1),
            tokens_per_s=round(tokens_per_s, 1),
            examples_per_s=round(examples_per_s, 2),
            mfu=None if utilisation is None else round(utilisation, 4),
        )
        self.run_dir.emit("step", **fields)
        self.tb.scalars(
            "train", step, {k: v for k, v in fields.items() if k not in ("step", "total_steps")}
        )
        mfu_text = "n/a" if utilisation is None else f"{utilisation:.1%}"
        log.info(
            "step %d/%d  loss %.4f  lr %.2e  %s tok/s  mfu %s",
            step,
            self.total_steps,
            values["loss"],
            lr,
            f"{tokens_per_s:,.0f}",
            mfu_text,
        )
        self._report_memory(step)

    def _report_memory(self, step: int) -> None:
        stats = [d.memory_stats() for d in jax.local_devices()]
        if any(s is None for s in stats):
            return  # the CPU backend keeps no allocator statistics
        self.run_dir.emit(
            "memory",
            step=step,
            bytes_in_use=[s.get("bytes_in_use") for s in stats],
            peak_bytes_in_use=[s.get("peak_bytes_in_use") for s in stats],
            bytes_limit=[s.get("bytes_limit") for s in stats],
        )

    def _evaluate(self, state, step: int) -> dict:
        eval_shape = (len(self.devices), self.spec.per_device_eval_batch_size)
        totals: dict[str, float] = {}
        outputs: dict[str, list] = {}
        for batch in eval_batches(self.data.eval, eval_shape, self.rows):
            sums, batch_outputs = self.parallel.eval_step(
                state.params, self.parallel.put_batch(batch)
            )
            for key, value in sums.items():
                totals[key] = totals.get(key, 0.0) + value
            for key, value in batch_outputs.items():
                outputs.setdefault(key, []).append(value)
        weight = totals.pop("weight")
        report = self.model.eval_report({k: v / weight for k, v in totals.items()})
        if self.model.eval_scores:
            real = np.concatenate(outputs.pop("weights")) > 0  # not the last batch's padding
            report.update(
                self.model.eval_scores({k: np.concatenate(v)[real] for k, v in outputs.items()})
            )
        self.run_dir.emit("eval", step=step, **report)
        self.tb.scalars("eval", step, report)
        log.info("eval at step %d: %s", step, "  ".join(f"{k} {v:.4f}" for k, v in report.items()))
        return report

    def _save(self, state, step: int, final: bool = False) -> None:
        """Checkpoint; export the HF model at the end, or at every save when it is pushed."""
        meta = {**self.batches.state(step), "seed": self.spec.seed}
        self.checkpoints.save(step, self.parallel.checkpoint_state(state), meta)
        if final:  # Orbax's host copy of the state is let go before the export makes its own
            self.checkpoints.wait()
        # Every process decides alike (from the spec: only the leader has the pusher), since
        # the whole parameters are gathered by all of them.
        if not (final or self.spec.pushes_saves):
            return
        params = self.parallel.host_state(state.params)
        with _disk_full_as(step, "the exported model", self.run_dir.path):
            if self.leader:
                self._export(params, step)
            if self.hub and self.hub.sends_checkpoint and not final:
                self.push_when_saved = step  # training goes on while Orbax writes it
            elif self.hub:
                self.hub.queue(step)

    def _saved(self, step: int, path) -> None:
        """A checkpoint is whole: announce it, and send the push that waited for it."""
        if not self.leader:
            return
        self.run_dir.emit("checkpoint", step=step, path=str(path))
        refresh_summary(self.run_dir.events_path)  # a screen opening the run reads from here
        if self.push_when_saved == step:
            self.push_when_saved = None
            with _disk_full_as(step, "the exported model", self.run_dir.path):
                self.hub.queue(step)

    def _finish(self, state, step: int, final: str, message: str) -> str:
        if final != "diverged":  # a NaN state is worth neither resuming nor exporting
            self._save(state, step, final=True)
        # Logged before the state says so: whoever follows the log stops on that state.
        log.info("run %s at step %d%s", final, step, f": {message}" if message else "")
        self.run_dir.write_status(final, step=step, total_steps=self.total_steps, message=message)
        return final

    def _export(self, params, step: int) -> None:
        target = self.run_dir.model_dir
        tmp = target.with_name(".model.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            self.model.export(params, tmp)
        except Exception:
            shutil.rmtree(tmp, ignore_errors=True)  # the previous export stays whole
            raise
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        self.run_dir.emit("export", step=step, path=str(target))


@contextlib.contextmanager
def _disk_full_as(step: int, what: str, run_path):
    """ENOSPC, however a library wraps it, as the run's one-line DiskFull."""
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFull(step, what, run_path) from None
