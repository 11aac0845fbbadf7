"""Device probes against fakes of the OS level: a sysfs PCI tree and an NVML library."""

import json
import os
import types

from tpudeck.core.devices.host import HostProbe
from tpudeck.core.devices.nvidia import NvmlProbe
from tpudeck.core.devices.sampler import Sampler
from tpudeck.core.devices.tpu import TpuChipsProbe

from .builders import V3_8, fake_pci, tpudeck

NOT_TPU = {"0000:00:1f.0": ("0x8086", "0x1234", "0x0000")}


def test_tpu_chips_are_found_in_a_fake_v3_8_pci_tree(tmp_path):
    reading = TpuChipsProbe(fake_pci(tmp_path / "pci", {**V3_8, **NOT_TPU})).sample()
    chips = reading.values["chips"]
    assert [c["kind"] for c in chips] == ["v3"] * 4
    assert [c["node"] for c in chips] == [
        "/dev/accel0",
        "/dev/accel1",
        "/dev/accel2",
        "/dev/accel3",
    ]
    assert (
        chips[0]["hbm_gib"] == 16 and chips[0]["jax_devices"] == 2
    )  # one v3 chip is two jax devices


def test_v5e_chips_use_vfio_nodes(tmp_path):
    pci = fake_pci(tmp_path / "pci", {"0000:00:04.0": ("0x1ae0", "0x0063", "0x0000")})
    (chip,) = TpuChipsProbe(pci).sample().values["chips"]
    assert (chip["kind"], chip["node"], chip["jax_devices"]) == ("v5e", "/dev/vfio/0", 1)


def test_tpu_probe_fails_soft_and_recovers(tmp_path):
    probe = TpuChipsProbe(tmp_path / "pci")
    assert probe.sample().reason == f"no PCI tree at {tmp_path / 'pci'}"
    fake_pci(tmp_path / "pci", NOT_TPU)
    assert probe.sample().reason == "no TPU chips on this machine"
    fake_pci(tmp_path / "pci", V3_8)
    assert len(probe.sample().values["chips"]) == 4


def fake_nvml(gpus: int, fail_init: bool = False):
    memory = types.SimpleNamespace(used=3 * 2**30, total=16 * 2**30)
    module = types.SimpleNamespace(
        nvmlInit=lambda: (
            (_ for _ in ()).throw(RuntimeError("NVML Shared Library Not Found"))
            if fail_init
            else None
        ),
        nvmlDeviceGetCount=lambda: gpus,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA A100-SXM4-40GB",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87),
        nvmlDeviceGetMemoryInfo=lambda h: memory,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [types.SimpleNamespace(pid=4242)],
    )
    return module


def test_nvml_probe_reads_every_gpu(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake_nvml(2))
    gpus = NvmlProbe().sample().values["gpus"]
    assert len(gpus) == 2
    assert gpus[1] == {"index": 1, "name": "NVIDIA A100-SXM4-40GB", "utilisation_percent": 87,
                       "memory_used": 3 * 2**30, "memory_total": 16 * 2**30, "pids": [4242]}  # fmt: skip


def test_nvml_probe_without_a_gpu_says_why_and_recovers(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    probe = NvmlProbe()
    assert "nvidia-ml-py is not installed" in probe.sample().reason
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(1, fail_init=True))
    assert "NVML did not start: NVML Shared Library Not Found" in probe.sample().reason
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(1))
    assert len(probe.sample().values["gpus"]) == 1


def test_sampler_keeps_a_bounded_history_per_source(tmp_path):
    sampler = Sampler([HostProbe(tmp_path), TpuChipsProbe(tmp_path / "none")], history=3)
    for _ in range(5):
        readings = sampler.sample_once()
    assert readings["host"].available and not readings["tpu"].available
    assert len(sampler.history["host"]) == 3 and len(sampler.history["tpu"]) == 3


def test_devices_command_reports_every_source(tmp_path):
    from .tpu_metrics_server import FakeTpuMetrics

    service = FakeTpuMetrics().start()
    env = {**os.environ, "TPUDECK_SYSFS_PCI": str(fake_pci(tmp_path / "pci", V3_8)),
           "TPUDECK_TPU_METRICS": service.address}  # fmt: skip
    try:
        result = tpudeck("devices", "--json", "--interval", "0.1", env=env)
        text = tpudeck("devices", "--interval", "0.1", env=env).stdout
    finally:
        service.stop()
    assert result.returncode == 0, result.stderr
    readings = json.loads(result.stdout)
    assert readings["host"]["values"]["memory_total"] > 0
    assert len(readings["tpu"]["values"]["chips"]) == 4
    assert readings["tpu_runtime"]["values"]["chips"][3]["duty_cycle_percent"] == 99.0
    assert readings["nvidia"]["values"] is None and readings["nvidia"]["reason"]
    assert "tpu: 4 x TPU v3 (16 GiB HBM each)" in text and "nvidia: not available" in text
    assert "tpu chip 0: 63% busy, HBM 3.0/16.0 GiB" in text
    down = tpudeck("devices", "--interval", "0.1", env=env).stdout
    assert "tpu_runtime: not available: no metrics service at localhost:" in down
