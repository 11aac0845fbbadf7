"""The TPU runtime metrics probe against a real gRPC server speaking libtpu's protocol."""

import pytest

from tpudeck.core.devices.tpu_runtime import TpuRuntimeProbe

from .tpu_metrics_server import GIB, FakeTpuMetrics


@pytest.fixture
def service():
    fake = FakeTpuMetrics().start()
    yield fake
    fake.stop()


def test_duty_cycle_per_chip_and_hbm_summed_over_its_cores(service):
    reading = TpuRuntimeProbe(service.address).sample()
    assert reading.available, reading.reason
    chips = reading.values["chips"]
    assert [c["duty_cycle_percent"] for c in chips] == [63.0, 61.5, 0.0, 99.0]
    assert [c["hbm_used"] / GIB for c in chips] == [3, 7, 11, 15]  # cores 0+1, 2+3, ...
    assert {c["hbm_total"] / GIB for c in chips} == {16}
    assert reading.values["cores_per_chip"] == 2 and reading.values["missing"] == []


def test_one_core_per_chip_as_on_v4_and_later():
    fake = FakeTpuMetrics(duty=(10.0, 20.0), cores_per_chip=1).start()
    try:
        chips = TpuRuntimeProbe(fake.address).sample().values["chips"]
    finally:
        fake.stop()
    assert [(c["duty_cycle_percent"], c["hbm_used"] / GIB) for c in chips] == [(10, 1), (20, 2)]


def test_a_libtpu_without_duty_cycle_still_reports_memory(service):
    service.mode = "old"
    reading = TpuRuntimeProbe(service.address).sample()
    assert reading.values["missing"] == ["tpu.runtime.tensorcore.dutycycle.percent"]
    assert all(c["duty_cycle_percent"] is None for c in reading.values["chips"])
    assert reading.values["chips"][0]["hbm_used"] == 1 * GIB


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("deny", "refused us: permission denied"),
        ("garbage", "unreadable reply from localhost:"),
    ],
)
def test_a_failing_service_gives_a_reason_then_recovers(service, mode, reason):
    probe = TpuRuntimeProbe(service.address)
    service.mode = mode
    failed = probe.sample()
    assert not failed.available and reason in failed.reason
    service.mode = "ok"
    assert probe.sample().available


def test_a_service_that_is_down_gives_a_reason_then_recovers(service):
    probe = TpuRuntimeProbe(service.address)
    assert probe.sample().available
    service.stop()
    down = probe.sample()
    assert not down.available and "no metrics service at localhost:" in down.reason
    service.start()  # the same port, as libtpu after the next run starts
    assert probe.sample().available
