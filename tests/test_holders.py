"""Holder detection against fake /proc and /dev trees and real processes holding fake devices."""

import os
import sys
import time

import pytest

from tpudeck.core.runs.holders import HolderScan
from tpudeck.core.runs.lock import AcceleratorLock
from tpudeck.core.runs.procs import current_user, is_alive, process_info, process_tree, start_ticks

from .fake_os import fake_dev_tree, fake_proc_tree, fake_process, hold_open


@pytest.mark.serial  # a bound on time
def test_fake_proc_scan_names_the_holder_among_a_thousand_processes(tmp_path):
    dev = fake_dev_tree(tmp_path)
    proc = fake_proc_tree(tmp_path, 1000, {4242: [str(dev / "accel0"), str(dev / "accel1")]})
    scan = HolderScan(proc, (str(dev / "accel*"),), tmp_path / "no-libtpu-lockfile")
    began = time.perf_counter()
    result = scan.scan()
    elapsed = time.perf_counter() - began
    (holder,) = result.holders
    assert holder.process.pid == 4242 and holder.process.user == "root"
    assert holder.process.command == "python notebook.py"
    assert holder.devices == (str(dev / "accel0"), str(dev / "accel1"))
    assert holder.process.since == pytest.approx(1700000000 + 5000 / os.sysconf("SC_CLK_TCK"))
    assert result.libtpu.state == "absent" and result.unreadable == 0
    assert elapsed < 2.0, f"a scan of 1000 processes took {elapsed:.2f} s"


def test_machine_without_device_nodes_scans_nothing(tmp_path):
    scan = HolderScan(tmp_path / "no-proc", (str(tmp_path / "dev" / "accel*"),), tmp_path / "x")
    assert scan.scan().holders == []


def test_real_process_holding_a_fake_device_is_found_in_the_real_proc(tmp_path):
    dev = fake_dev_tree(tmp_path)
    holder = hold_open(dev / "accel0")
    try:
        result = HolderScan(
            device_globs=(str(dev / "accel*"),), libtpu_lockfile=tmp_path / "x"
        ).scan()
        (found,) = [h for h in result.holders if h.process.pid == holder.pid]
        assert found.devices == (str(dev / "accel0"),)
        assert "notebook" in found.process.command and found.process.user == current_user()
    finally:
        holder.kill()
        holder.wait()


def test_libtpu_lockfile_held_stale_and_absent(tmp_path):
    lockfile = tmp_path / "libtpu_lockfile"
    scan = HolderScan(tmp_path / "proc", (), lockfile)
    assert scan.libtpu_lock().state == "absent"
    holder = hold_open(lockfile, lock="lockf")
    try:
        lock = scan.libtpu_lock()
        assert (lock.state, lock.pid) == ("held", holder.pid)
    finally:
        holder.kill()
        holder.wait()
    stale = scan.libtpu_lock()
    assert stale.state == "stale" and stale.fix == f"rm -f {lockfile}"


def test_liveness_is_pid_and_start_time(tmp_path):
    me = os.getpid()
    assert is_alive(me, start_ticks(me))
    assert not is_alive(me, start_ticks(me) + 1)  # same pid, another process: pid reuse
    assert not is_alive(None, None)
    assert sys.executable in process_info(me).command and process_info(me).user == current_user()
    assert process_tree(me)[0] == me


def test_accelerator_lock_excludes_and_names_its_holder(tmp_path):
    first, second = AcceleratorLock(tmp_path), AcceleratorLock(tmp_path)
    assert first.holder() is None
    assert first.try_acquire("run-a")
    assert not second.try_acquire("run-b")
    assert second.holder()["run_id"] == "run-a" and second.holder()["pid"] == os.getpid()
    first.release()
    assert second.holder() is None and second.try_acquire("run-b")
    second.release()
    events = [line for line in (tmp_path / "locks" / "holders.jsonl").read_text().splitlines()]
    assert len(events) == 4


def test_lock_is_freed_when_its_holder_dies(tmp_path):
    child = hold_open(tmp_path / "locks" / "accelerator.lock", lock="flock")
    lock = AcceleratorLock(tmp_path)
    assert lock.is_held() and not lock.try_acquire("mine")
    child.kill()
    child.wait()
    assert lock.try_acquire("mine")  # the kernel freed it: no stale lock survives a kill -9
    lock.release()


def test_a_token_in_a_holders_command_line_is_never_shown(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("btime 1700000000\n")
    fake_process(
        proc, 77, "python run_clm_flax.py --hub_token hf_secret1 --token=hf_secret2 --x 1", {}
    )
    info = process_info(77, proc)
    assert info.command == "python run_clm_flax.py --hub_token *** --token=*** --x 1"
