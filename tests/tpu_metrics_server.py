"""A fake of libtpu's runtime metrics service: a real gRPC server on 127.0.0.1 speaking
tpu-info's protocol, answering canned values.

`mode` switches how it behaves: "ok", "deny" (permission denied), "garbage" (strings
where numbers belong), "old" (a libtpu without the duty-cycle metric).
"""

from __future__ import annotations

from concurrent import futures

import grpc
from tpu_info.proto import tpu_metric_service_pb2 as pb
from tpu_info.proto import tpu_metric_service_pb2_grpc as pb_grpc

GIB = 2**30


class FakeTpuMetrics(pb_grpc.RuntimeMetricServiceServicer):
    """A v3-8 by default: 4 chips, 2 cores each, 16 GiB of HBM per chip."""

    def __init__(self, duty=(63.0, 61.5, 0.0, 99.0), cores_per_chip: int = 2):
        self.duty = list(duty)
        cores = len(self.duty) * cores_per_chip
        self.used = [(i + 1) * GIB for i in range(cores)]  # 1 GiB on core 0, 2 on core 1, ...
        self.total = [16 * GIB // cores_per_chip] * cores
        self.mode = "ok"
        self.requests = 0
        self.port = 0
        self.server = None

    def GetRuntimeMetric(self, request, context):
        self.requests += 1
        if self.mode == "deny":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")
        name = request.metric_name
        if name.endswith("dutycycle.percent"):
            if self.mode == "old":
                context.abort(grpc.StatusCode.NOT_FOUND, f"metric {name} not supported")
            return _response(name, [pb.Gauge(as_double=d) for d in self.duty])
        if name.endswith("usage.bytes"):
            values = self.used
        elif name.endswith("total.bytes"):
            values = self.total
        else:
            context.abort(grpc.StatusCode.NOT_FOUND, f"metric {name} not supported")
        if self.mode == "garbage":
            return _response(name, [pb.Gauge(as_string="lots") for _ in values])
        return _response(name, [pb.Gauge(as_int=v) for v in values])

    def start(self) -> FakeTpuMetrics:
        """Listen on 127.0.0.1 (again on the same port after stop())."""
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        pb_grpc.add_RuntimeMetricServiceServicer_to_server(self, self.server)
        self.port = self.server.add_secure_port(
            f"127.0.0.1:{self.port}", grpc.local_server_credentials()
        )
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None).wait()

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"


def _response(name: str, gauges: list) -> pb.MetricResponse:
    metrics = [
        pb.Metric(attribute=pb.Attribute(key="device-id", value=pb.AttrValue(int_attr=i)), gauge=g)
        for i, g in enumerate(gauges)
    ]
    return pb.MetricResponse(metric=pb.TPUMetric(name=name, metrics=metrics))
