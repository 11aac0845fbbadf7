"""`tpudeck train --hosts ...`: one run on several hosts, and the trainers it starts there.

The launching process checks the flags and hands the command line on to every worker
(pod/supervisor.py); a worker other than process 0 is a follower of the run process 0
launched (train/processes.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .demo import new_run_spec
from .errors import TpudeckError


def train_on_hosts(args: argparse.Namespace, given: dict) -> int:
    """--hosts: one trainer per worker, started by the launcher; the flags are checked here
    first, so bad input fails before any host starts."""
    from .pod.hosts import parse_hosts
    from .pod.supervisor import busy_worker, run_on_hosts

    if "output_dir" not in given:
        raise TpudeckError("--hosts needs --output_dir DIR: the one path every worker trains into")
    spec = None if args.resume else new_run_spec(given, args.demo)  # bad flags fail here
    train_args, skip = [], False
    for arg in args.argv[1:]:  # the command line as given, without --hosts and --detach
        if not skip and not arg.startswith("--hosts") and arg != "--detach":
            train_args.append(arg)
        skip = arg == "--hosts"
    launcher = parse_hosts(args.hosts)
    takes_lock = spec is None or spec.platform != "cpu"  # cpu runs take no lock
    if not args.wait and takes_lock and (busy := busy_worker(launcher)):
        raise TpudeckError(f"{busy}: drop --no-wait to queue behind it on every worker")
    output_dir = Path(given["output_dir"]).resolve()
    if args.detach:
        from .pod.detached import start_on_hosts

        launched = start_on_hosts(args.hosts, train_args, output_dir)
        print(f"{launched.describe()}\nfollow it with: tpudeck logs -f {output_dir}", flush=True)
        return 0
    return run_on_hosts(launcher, train_args, output_dir)


def follow_leader(args: argparse.Namespace, given: dict, processes) -> int:
    """Process N > 0 of a run of several: the run process 0 launched, in its directory; the
    checks and the records are process 0's."""
    from .spec import RunSpec
    from .train.entry import EXIT_CODES, run_follower
    from .train.processes import follower_dir

    run_dir = follower_dir(given.get("output_dir"), processes)
    if args.resume:
        spec = RunSpec.load(run_dir.spec_path).replace(**given)
    else:
        spec = new_run_spec(given, args.demo)
    return EXIT_CODES[run_follower(spec, run_dir, args.resume, args.wait, processes)]
