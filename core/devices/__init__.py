"""Device probes: one per source (host, NVIDIA GPUs, TPU chips), each optional and failing
soft: a missing source is a reading with a reason, never an exception."""
