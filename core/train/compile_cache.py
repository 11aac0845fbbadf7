"""Did a compile come from jax's persistent compilation cache? jax says so through its
monitoring events; counting them around one compile answers for that compile."""

from __future__ import annotations

import jax

_REQUEST = "/jax/compilation_cache/compile_requests_use_cache"
_HIT = "/jax/compilation_cache/cache_hits"


class CacheLookups:
    """Within `with`: how many compiles asked the cache (`requests`) and found their
    program there (`hits`)."""

    def __init__(self):
        self.requests = self.hits = 0

    def _count(self, event: str, **_kwargs) -> None:
        if event == _REQUEST:
            self.requests += 1
        elif event == _HIT:
            self.hits += 1

    def __enter__(self) -> CacheLookups:
        jax.monitoring.register_event_listener(self._count)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_listener(self._count)
