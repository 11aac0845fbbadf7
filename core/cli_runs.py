"""`tpudeck ls | logs | stop | rm | queue | who`: managing runs from a shell, for people
(tables) and scripts (--json). Nothing here imports jax or the trainer."""

from __future__ import annotations

import json
import sys
import time

from .errors import TpudeckError
from .runs.actions import delete_run, kill_tree, request_stop
from .runs.guard import describe_foreign, describe_holder
from .runs.holders import HolderScan
from .runs.lock import AcceleratorLock
from .runs.procs import process_tree
from .runs.queue import RunQueue, place_notes
from .runs.rundir import FINAL_STATES
from .runs.store import RunStore, read_run


def _age(seconds_since: float | None) -> str:
    if not seconds_since:
        return "-"
    s = time.time() - seconds_since
    return (
        f"{s / 86400:.0f}d" if s > 86400 else f"{s / 3600:.0f}h" if s > 3600 else f"{s / 60:.0f}m"
    )


def _fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def cmd_ls(args) -> int:
    rows = [r.summary() for r in RunStore().list()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'RUN':<44} {'STATE':<24} {'STEP':>11} {'LOSS':>8} {'TOK/S':>9} {'OWNER':<10} AGE")
    for r in rows:
        step = f"{_fmt(r['step'])}/{_fmt(r['total_steps'])}"
        print(
            f"{r['run_id']:<44} {r['state']:<24} {step:>11} {_fmt(r['loss'], '.4f'):>8} "
            f"{_fmt(r['tokens_per_s'], ',.0f'):>9} {r['owner']:<10} {_age(r['created'])}"
        )
    return 0


def cmd_logs(args) -> int:
    record = RunStore().find(args.run)
    offset = 0
    while True:
        # The state before the read: a run seen ended has written its last line, which
        # this read then prints (read after it, the check could end before that line).
        ended = not args.follow or read_run(record.run_dir.path).state in (*FINAL_STATES, "unknown")
        try:
            with open(record.run_dir.log_path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
        if ended:
            return 0
        time.sleep(0.25)


def cmd_stop(args) -> int:
    record = RunStore().find(args.run)
    pid = request_stop(record)
    print(
        f"sent SIGTERM to run {record.run_id} (pid {pid}); it checkpoints, then stops", flush=True
    )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        state = read_run(record.run_dir.path).state
        if state in FINAL_STATES:
            print(f"run {record.run_id}: {state}")
            return 0
        time.sleep(0.2)
    if not args.kill:
        raise TpudeckError(
            f"run {record.run_id} did not stop in {args.timeout:.0f} s: pass --kill to end it"
        )
    print(f"run {record.run_id}: killed ({kill_tree(record)} processes)")
    return 0


def cmd_rm(args) -> int:
    store = RunStore()
    record = store.find(args.run)
    delete_run(record, store)
    print(f"deleted run {record.run_id}")
    return 0


def cmd_queue(args) -> int:
    queue = RunQueue(RunStore().home)
    if args.move:
        direction, run = args.move
        record = RunStore().find(run)
        queue.move(record.run_id, -1 if direction == "up" else 1)
    if args.priority:
        value, run = args.priority
        if not value.lstrip("-").isdigit():
            raise TpudeckError(f"--priority takes a whole number, not {value!r}")
        queue.set_priority(RunStore().find(run).run_id, int(value))
    entries = queue.entries()
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for i, e in enumerate(entries):
        print(f"{i + 1:>3}. {e['run_id']}  {e['user']}  pid {e['pid']}{place_notes(e)}")
    if not entries:
        print("the queue is empty")
    return 0


def who_report() -> dict:
    home = RunStore().home
    scan = HolderScan.from_env().scan()
    holder = AcceleratorLock(home).holder()
    return {
        "holder": holder,
        "foreign": [
            {"pid": h.process.pid, "user": h.process.user, "command": h.process.command,
             "since": h.process.since, "devices": list(h.devices)}
            for h in scan.holders
            if not holder or h.process.pid not in process_tree(holder.get("pid") or 0)
        ],
        "libtpu_lockfile": vars(scan.libtpu),
        "unreadable_processes": scan.unreadable,
        "queue": RunQueue(home).entries(),
        "summary": describe_holder(holder) if holder else describe_foreign(scan) or "free",
    }  # fmt: skip


def cmd_who(args) -> int:
    report = who_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"accelerator: {'held by ' if report['summary'] != 'free' else ''}{report['summary']}")
    for f in report["foreign"]:
        print(
            f"  outside tpudeck: pid {f['pid']} of {f['user']} holds {', '.join(f['devices'])}: {f['command']}"
        )
    lock = report["libtpu_lockfile"]
    if lock["state"] != "absent":
        print(f"libtpu lockfile: {lock['state']}" + (f" by pid {lock['pid']}" if lock["pid"] else "")
              + (f"; to clear it: {lock['fix']}" if lock["fix"] else ""))  # fmt: skip
    if report["unreadable_processes"]:
        print(
            f"  {report['unreadable_processes']} processes of other users could not be inspected (run as root)"
        )
    print(f"queue: {len(report['queue'])} waiting")
    for i, e in enumerate(report["queue"]):
        print(f"{i + 1:>3}. {e['run_id']}  {e['user']}{place_notes(e)}")
    return 0


def describe_chip(chip: dict) -> str:
    """ "63% busy, HBM 3.0/16.0 GiB", with n/a for what this libtpu does not report."""
    duty = chip["duty_cycle_percent"]
    used, total = chip["hbm_used"], chip["hbm_total"]
    hbm = (
        "n/a"
        if used is None
        else f"{used / 2**30:.1f}/" + ("?" if total is None else f"{total / 2**30:.1f}")
    )
    return f"{'n/a' if duty is None else f'{duty:.0f}%'} busy, HBM {hbm} GiB"


def describe_readings(readings: dict) -> list[str]:
    """One line per source for people: values, or why there are none."""
    lines = []
    for source, reading in readings.items():
        if not reading.available:
            lines.append(f"{source}: not available: {reading.reason}")
        elif source == "host":
            v = reading.values
            cores = " ".join(f"{c:.0f}%" for c in v["cpu_percent"])
            lines.append(
                f"host: cpu {cores}; memory {v['memory_used'] / 1e9:.1f}/{v['memory_total'] / 1e9:.1f} GB; "
                f"load {' '.join(f'{x:.2f}' for x in v['load'])}; run store free {v['disk_free'] / 1e9:.0f} GB"
            )
        elif source == "tpu":
            chips = reading.values["chips"]
            lines.append(f"tpu: {len(chips)} x TPU {chips[0]['kind']} ({chips[0]['hbm_gib']} GiB HBM each): "
                         + ", ".join(c["node"] for c in chips))  # fmt: skip
        elif source == "tpu_runtime":
            lines += [f"tpu chip {c['chip']}: {describe_chip(c)}" for c in reading.values["chips"]]
        elif source == "nvidia":
            for gpu in reading.values["gpus"]:
                lines.append(
                    f"gpu {gpu['index']}: {gpu['name']} {gpu['utilisation_percent']}% busy, "
                    f"{gpu['memory_used'] / 2**30:.1f}/{gpu['memory_total'] / 2**30:.1f} GiB, pids {gpu['pids']}"
                )
    return lines


def cmd_devices(args) -> int:
    from .devices.sampler import Sampler, default_probes

    sampler = Sampler(default_probes(RunStore().home), period=args.interval)
    time.sleep(min(args.interval, 0.5))  # CPU percentages need an interval to measure
    while True:
        readings = sampler.sample_once()
        if args.json:
            print(json.dumps({k: r.to_dict() for k, r in readings.items()}), flush=True)
        else:
            print("\n".join(describe_readings(readings)), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.interval)
