"""A stand-in for the gcloud CLI, put on PATH by builders.fake_gcloud: it records each call
(a JSON line in $FAKE_GCLOUD_LOG) and plays a TPU VM slice of two workers on this host.
`describe` lists them at 127.0.0.1; `ssh --worker=N|all --command=C` runs C here as each
of those workers would, with its half of the host's CPU devices, and exits with C's status
as ssh does."""

import json
import os
import subprocess
import sys

WORKERS = 2


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    verb, name = argv[3], argv[4]  # compute tpus tpu-vm VERB NAME [--zone Z] ...
    if verb == "describe":
        endpoints = [{"ipAddress": "127.0.0.1", "port": 8470}] * WORKERS
        print(json.dumps({"name": name, "state": "READY", "networkEndpoints": endpoints}))
        return 0
    flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    workers = range(WORKERS) if flags["worker"] == "all" else [int(flags["worker"])]
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={8 // WORKERS}"}
    codes = [subprocess.run(["bash", "-c", flags["command"]], env=env).returncode for _ in workers]
    code = next((c for c in codes if c), 0)
    return 128 - code if code < 0 else code  # killed by a signal: 128 + its number


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
