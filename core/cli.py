"""The `tpudeck` command. Subcommands are headless; heavy modules load inside them."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys

from .cli_flags import (
    Parser,
    add_launch_flags,
    add_queue_flags,
    add_script_flags,
    add_spec_flags,
)
from .errors import TpudeckError
from .runs.home import open_store
from .runs.queue import TICKET_ENV, ticket


def build_parser() -> argparse.ArgumentParser:
    from . import cli_compare, cli_hub, cli_runs, cli_try

    parser = Parser(prog="tpudeck", description="Train on a shared accelerator VM.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    train = sub.add_parser("train", help="train a model (foreground, or --detach)")
    train.add_argument(
        "--demo", action="store_true", help="the embedded demo: tiny GPT-2, offline corpus"
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output_dir from its latest checkpoint",
    )
    train.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="replace the run in a non-empty --output_dir (other files there stay)",
    )
    add_launch_flags(train)
    add_queue_flags(train)
    add_spec_flags(train)
    add_script_flags(train)
    train.set_defaults(handler=_train)
    demo = sub.add_parser("demo", help="open the app with the embedded demo ready to launch")
    add_spec_flags(demo)  # e.g. `tpudeck demo --max_steps 3000` fills the form differently
    ui = sub.add_parser("ui", help="open the app (the same as no subcommand)")
    ui.add_argument(
        "--demo", action="store_true", help="open on the Launch screen, filled with the demo"
    )
    add_spec_flags(ui)

    child = sub.add_parser("_run")  # what a detached launch runs: the spec in a run directory
    child.add_argument("run_dir")
    child.add_argument("--resume", action="store_true")
    child.add_argument("--no-wait", dest="wait", action="store_false")
    add_queue_flags(child)  # --after: the chained-after run's directory here
    child.set_defaults(handler=_run_child)

    run = sub.add_parser(
        "run", help="run your own script under the guard: tpudeck run -- python x.py ..."
    )
    run.add_argument("--name", help="human name of the run; default: the script's name")
    run.add_argument(
        "--detach", action="store_true", help="return at once instead of following the log"
    )
    run.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="fail at once if the accelerator is busy",
    )
    add_queue_flags(run)
    run.add_argument("script_command", nargs=argparse.REMAINDER, help="-- then the command to run")
    run.set_defaults(handler=_run_script)
    script_child = sub.add_parser("_script")  # the supervisor a detached `run` starts
    script_child.add_argument("run_dir")
    script_child.add_argument("--no-wait", dest="wait", action="store_false")
    add_queue_flags(script_child)
    script_child.set_defaults(handler=_script_child)

    tok = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer on a data file")
    tok.add_argument("--train_file", required=True)
    tok.add_argument("--text_column", default="text")
    tok.add_argument("--vocab_size", type=int, default=8000)
    tok.add_argument("--output_dir", required=True, help="where tokenizer.json and its configs go")
    tok.set_defaults(handler=_train_tokenizer)

    ls = sub.add_parser("ls", help="list every user's runs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cli_runs.cmd_ls)
    logs = sub.add_parser("logs", help="print a run's log")
    logs.add_argument("run")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the run ends"
    )
    logs.set_defaults(handler=cli_runs.cmd_logs)
    stop = sub.add_parser("stop", help="stop a run: SIGTERM, it checkpoints and stops")
    stop.add_argument("run")
    stop.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for it to stop")
    stop.add_argument(
        "--kill", action="store_true", help="after the timeout, SIGKILL the run's process tree"
    )
    stop.set_defaults(handler=cli_runs.cmd_stop)
    rm = sub.add_parser("rm", help="delete a finished run's directory")
    rm.add_argument("run")
    rm.set_defaults(handler=cli_runs.cmd_rm)
    queue = sub.add_parser("queue", help="runs waiting for the accelerator")
    queue.add_argument("--json", action="store_true")
    queue.add_argument(
        "--move", nargs=2, metavar=("up|down", "RUN"), help="reorder one of your queued runs"
    )
    queue.add_argument(
        "--priority", nargs=2, metavar=("N", "RUN"), help="set one of your queued runs' priority"
    )
    queue.set_defaults(handler=cli_runs.cmd_queue)
    who = sub.add_parser("who", help="who holds the accelerator, and the queue")
    who.add_argument("--json", action="store_true")
    who.set_defaults(handler=cli_runs.cmd_who)
    devices = sub.add_parser("devices", help="host, TPU chips and GPUs (one reading, or --watch)")
    devices.add_argument("--json", action="store_true", help="one JSON object per reading")
    devices.add_argument("--watch", action="store_true", help="keep sampling until interrupted")
    devices.add_argument("--interval", type=float, default=1.0, help="seconds between readings")
    devices.set_defaults(handler=cli_runs.cmd_devices)
    serve = sub.add_parser("serve", help="the app in a browser (for an SSH tunnel from a laptop)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=_serve)
    cli_try.add_try_command(sub)
    cli_hub.add_hub_commands(sub)
    cli_compare.add_compare_command(sub)
    return parser


LAUNCH_KEYS = (
    "command",
    "handler",
    "demo",
    "resume",
    "overwrite_output_dir",
    "detach",
    "wait",
    "hub_token",
    "priority",
    "after",
    "hosts",
    "argv",
)
_LAUNCHES = ("train", "run", "_run", "_script")  # the commands that create runs and queue


def _train(args: argparse.Namespace) -> int:
    from . import cli_hosts
    from .demo import new_run_spec
    from .runs.targets import new_run_target, plan_resume
    from .script_flags import take_script_flags
    from .train.processes import Processes

    given = {k: v for k, v in vars(args).items() if k not in LAUNCH_KEYS}
    given, notes, token = take_script_flags(given)
    for note in notes:
        print(f"tpudeck: {note}", file=sys.stderr)
    args.hub_token = token or args.hub_token
    if args.hub_token:  # the environment carries it to a detached child; no file ever does
        os.environ["HF_TOKEN"] = args.hub_token
    if args.hosts:
        return cli_hosts.train_on_hosts(args, given)
    processes = Processes.from_env()
    if not processes.leader:
        return cli_hosts.follow_leader(args, given, processes)
    if args.resume:
        if "output_dir" not in given:
            raise TpudeckError("--resume needs --output_dir RUN_DIR: the run to continue")
        if args.overwrite_output_dir:
            raise TpudeckError(
                "--resume continues the run, --overwrite_output_dir replaces it: pass one"
            )
        spec, target = plan_resume(given["output_dir"], given)
    else:
        spec = new_run_spec(given, args.demo)
        target = new_run_target(spec, args.overwrite_output_dir)
    place = _queue_place(args)
    if args.detach:
        from .runs.launch import start_training

        _follow_hint(start_training(spec, target, args.resume, args.wait, place))
        return 0
    from .train.entry import EXIT_CODES, run_training

    target.begin(spec)  # from here on a refused input puts the directory back
    print(f"run directory: {target.run_dir.path}", flush=True)
    outcome = run_training(spec, target.run_dir, args.resume, args.wait, place)
    return EXIT_CODES[outcome]


def _queue_place(args: argparse.Namespace):
    """--priority and --after as the launch's place in the queue, checked before anything
    starts: the run to chain after exists and may still finish, and the priority jumps no
    other user's earlier run (unless root)."""
    from .runs.queue import Place, RunQueue
    from .runs.rundir import FINAL_STATES
    from .runs.store import RunStore

    after = None
    if args.after:
        if not args.wait:
            raise TpudeckError("--after waits for a run to finish: drop --no-wait")
        parent = RunStore().find(args.after)
        if parent.state in FINAL_STATES and parent.state != "finished":
            raise TpudeckError(
                f"run {parent.run_id} {parent.state}: nothing to chain after; resume it first"
            )
        after = None if parent.state == "finished" else str(parent.run_dir.path)
    position = int(os.environ.get(TICKET_ENV) or ticket())
    RunQueue(RunStore().home).check_jump(
        {"run_id": "this launch", "priority": args.priority, "position": position}
    )
    return Place(args.priority, after)


def _pasted(argv: list[str]) -> list[str]:
    """`train [tpudeck flags] -- python run_mlm_flax.py --flag ...` as the tpudeck train
    arguments it means, which are shown."""
    from .pasted import train_arguments

    cut = argv.index("--")
    argv = argv[:cut] + train_arguments(argv[cut + 1 :])
    print(f"tpudeck: as `{shlex.join(['tpudeck', *argv])}`", file=sys.stderr, flush=True)
    return argv


def _follow_hint(launched) -> None:
    print(f"{launched.describe()}\nfollow it with: tpudeck logs -f {launched.run_id}", flush=True)


def _run_script(args: argparse.Namespace) -> int:
    from . import cli_runs
    from .runs.launch import start_script
    from .runs.store import read_run

    command = args.script_command[1:] if args.script_command[:1] == ["--"] else args.script_command
    launched = start_script(command, args.name, args.wait, _queue_place(args))
    _follow_hint(launched)
    if args.detach:
        return 0
    print("(Ctrl-C stops following; the run goes on)", flush=True)
    try:
        cli_runs.cmd_logs(argparse.Namespace(run=str(launched.run_dir.path), follow=True))
    except KeyboardInterrupt:
        return 0
    return 0 if read_run(launched.run_dir.path).state == "finished" else 1


def _train_tokenizer(args: argparse.Namespace) -> int:
    from itertools import chain
    from pathlib import Path

    from .data.text_files import load_text_splits
    from .data.token_blocks import text_batches
    from .data.tokenizer import train_byte_level_bpe
    from .spec import RunSpec

    spec = RunSpec.from_dict(
        {
            "train_file": args.train_file,
            "text_column": args.text_column,
            "vocab_size": args.vocab_size,
        }
    )
    texts = chain.from_iterable(
        text_batches(rows, spec.text_column) for rows in load_text_splits(spec)
    )
    tokenizer = train_byte_level_bpe(texts, spec.vocab_size, Path(args.output_dir), 1024)
    print(f"tokenizer with {tokenizer.get_vocab_size()} tokens written to {args.output_dir}")
    return 0


def _script_child(args: argparse.Namespace) -> int:
    from .runs.notices import announce_end
    from .runs.queue import Place
    from .runs.rundir import RunDir
    from .runs.script_supervisor import supervise

    run_dir, place = RunDir(args.run_dir), Place(args.priority, args.after)
    outcome = supervise(run_dir, args.wait, place)
    announce_end(run_dir)
    return {"finished": 0, "stopped": 0}.get(outcome, 1)


def _run_child(args: argparse.Namespace) -> int:
    from .runs.queue import Place
    from .runs.rundir import RunDir
    from .spec import RunSpec
    from .train.entry import EXIT_CODES, RunRefused, run_training

    run_dir = RunDir(args.run_dir)
    try:
        spec = RunSpec.load(run_dir.spec_path)
        place = Place(args.priority, args.after)
        return EXIT_CODES[run_training(spec, run_dir, args.resume, args.wait, place)]
    except RunRefused:  # the launcher printed why; the run directory is as it was
        return 2


def _serve(args: argparse.Namespace) -> int:
    open_store()  # an unusable $TPUDECK_HOME is one line here, not a broken page
    from tpudeck.tui.serve import serve

    return serve(args.host, args.port)


def _open_app(demo: bool, given: dict) -> int:
    open_store()  # an unusable $TPUDECK_HOME is a one-line error, not a broken screen
    launch_values = None
    if demo or given:
        from .demo import demo_settings

        demo_values = demo_settings(given.get("recipe", "clm")) if demo else {}
        launch_values = {**demo_values, **given}
    from tpudeck.tui.app import TpudeckApp

    TpudeckApp(launch_values=launch_values).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["train"], ["run"]):  # a launch: its place in the queue is its start
        os.environ.setdefault(TICKET_ENV, str(ticket(os.getpid())))
    if argv[:1] == ["train"] and "--" in argv:  # a pasted HF script command line
        try:
            argv = _pasted(argv)
        except TpudeckError as exc:
            print(f"tpudeck: error: {exc}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "ui", "demo"):
        given = {k: v for k, v in vars(args).items() if k not in ("command", "demo")}
        try:
            return _open_app(args.command == "demo" or getattr(args, "demo", False), given)
        except TpudeckError as exc:
            print(f"tpudeck: error: {exc}", file=sys.stderr)
            return 2
    args.argv = argv  # the command line as given: --hosts hands it on to every worker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in (
        "jax",
        "absl",
        "datasets",
        "httpx",
        "httpx2",
        "httpcore",
        "huggingface_hub",
        "filelock",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.raiseExceptions = False  # a full disk must not turn each log line into a traceback
    try:
        if args.command != "tokenizer":  # every command reads or writes the run store
            open_store(writing=args.command in _LAUNCHES)
        return args.handler(args)
    except TpudeckError as exc:
        print(f"tpudeck: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tpudeck ls | head`: the reader left, which is fine
        sys.stderr.close()
        return 0
