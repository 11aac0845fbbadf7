"""Per-chip TensorCore duty cycle and HBM from libtpu's runtime metrics service.

libtpu serves these over gRPC on localhost:8431 while a process holds the TPU (tpudeck's
trainer turns the service on with TPU_RUNTIME_METRICS_PORTS). The protocol code is
tpu-info's (the `tpu` extra): its generated stubs and its metric names. Which metrics
exist depends on the libtpu version, so each is asked for on its own and one that is not
served shows as missing rather than failing the rest.

Duty cycle is reported per chip, memory per TensorCore (two per chip on v2/v3, one
later): the ratio of the two answers tells how to fold memory into chips.
"""

from __future__ import annotations

import os

from .reading import Reading, unavailable

METRICS_PORT = 8431
ADDRESS = f"localhost:{METRICS_PORT}"
DUTY, HBM_USED, HBM_TOTAL = (
    "tpu.runtime.tensorcore.dutycycle.percent",
    "tpu.runtime.hbm.memory.usage.bytes",
    "tpu.runtime.hbm.memory.total.bytes",
)


def enable_metrics(env) -> None:
    """Ask libtpu in a process with this environment to serve its metrics (a user's own
    TPU_RUNTIME_METRICS_PORTS wins); other backends ignore it."""
    env.setdefault("TPU_RUNTIME_METRICS_PORTS", str(METRICS_PORT))


class GarbledReply(ValueError):
    """The service answered, but not with the numbers a metrics service sends."""


class TpuRuntimeProbe:
    source = "tpu_runtime"

    def __init__(self, address: str = ADDRESS, timeout: float = 0.5):
        self.address, self.timeout = address, timeout
        self._stub = None

    @classmethod
    def from_env(cls) -> TpuRuntimeProbe:
        """localhost:8431, or TPUDECK_TPU_METRICS (tests, a trainer on another port)."""
        return cls(os.environ.get("TPUDECK_TPU_METRICS", ADDRESS))

    def _client(self):
        if self._stub is None:
            import grpc  # with tpu-info: ImportError is handled by sample()
            from tpu_info.proto import tpu_metric_service_pb2_grpc

            channel = grpc.secure_channel(self.address, grpc.local_channel_credentials())
            self._stub = tpu_metric_service_pb2_grpc.RuntimeMetricServiceStub(channel)
        return self._stub

    def sample(self) -> Reading:
        try:
            client = self._client()
        except ImportError:
            return unavailable(
                self.source, "tpu-info is not installed (pip install 'tpudeck[tpu]')"
            )
        try:
            answers = {name: self._ask(client, name) for name in (DUTY, HBM_USED, HBM_TOTAL)}
            values = _fold_into_chips(answers)
        except GarbledReply as exc:
            self._stub = None
            return unavailable(self.source, f"unreadable reply from {self.address}: {exc}")
        except Exception as exc:  # grpc.RpcError: the service is down, slow or refuses us
            self._stub = None  # a fresh channel next time: no reconnect backoff to wait out
            return unavailable(self.source, self._explain(exc))
        if not values["chips"]:
            missing = ", ".join(values["missing"])
            return unavailable(self.source, f"{self.address} serves none of: {missing}")
        return Reading(self.source, {"address": self.address, **values})

    def _ask(self, client, name: str) -> dict[int, float] | None:
        """{device id: value} of one metric, or None when this libtpu does not serve it."""
        import grpc
        from tpu_info.proto import tpu_metric_service_pb2

        try:
            response = client.GetRuntimeMetric(
                tpu_metric_service_pb2.MetricRequest(metric_name=name), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            if exc.code() in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.UNIMPLEMENTED,
                grpc.StatusCode.INVALID_ARGUMENT,
            ):
                return None
            raise
        values = {}
        for metric in response.metric.metrics:
            kind = metric.gauge.WhichOneof("value")
            if kind not in ("as_int", "as_double"):
                raise GarbledReply(f"{name} is {kind or 'empty'}, not a number")
            values[metric.attribute.value.int_attr] = float(getattr(metric.gauge, kind))
        return values

    def _explain(self, exc: Exception) -> str:
        import grpc

        code = exc.code() if isinstance(exc, grpc.RpcError) else None
        if code == grpc.StatusCode.UNAVAILABLE:
            return (
                f"no metrics service at {self.address} (libtpu serves it only while a process "
                "holds the TPU, with TPU_RUNTIME_METRICS_PORTS set)"
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"{self.address} did not answer within {self.timeout} s"
        if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            return f"{self.address} refused us: permission denied"
        return f"{self.address} failed: {code.name if code else type(exc).__name__}"


def _fold_into_chips(answers: dict[str, dict[int, float] | None]) -> dict:
    """Per-chip duty cycle and HBM (summed over the chip's cores) from per-id answers."""
    duty, used, total = (answers[name] for name in (DUTY, HBM_USED, HBM_TOTAL))
    cores = max((len(a) for a in (used, total) if a), default=0)
    chips = len(duty) if duty else cores  # none served: no chips
    if chips and cores % chips:
        raise GarbledReply(f"{cores} cores do not split over {chips} chips")
    per_chip = cores // chips if chips and cores else 1

    def chip_sum(values: dict | None, chip: int) -> float | None:
        if not values:
            return None
        ids = sorted(values)[chip * per_chip : (chip + 1) * per_chip]
        return sum(values[i] for i in ids)

    duty_ids = sorted(duty) if duty else []
    return {
        "chips": [
            {
                "chip": chip,
                "duty_cycle_percent": duty[duty_ids[chip]] if duty else None,
                "hbm_used": chip_sum(used, chip),
                "hbm_total": chip_sum(total, chip),
            }
            for chip in range(chips)
        ],
        "cores_per_chip": per_chip,
        "missing": [name for name, answer in answers.items() if answer is None],
    }
