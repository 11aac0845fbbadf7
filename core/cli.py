"""The `tpudeck` command. Subcommands are headless; heavy modules load inside them."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import sys

from .errors import TpudeckError


class _Parser(argparse.ArgumentParser):
    """Errors in one line, with the closest flag for a typo, and exit code 2.

    Flags are never abbreviated: a typo must be an error, not silently another flag.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str):
        if "unrecognized arguments:" in message:
            wrong = [w for w in message.split(":", 1)[1].split() if w.startswith("--")]
            options = list(_option_strings(self))
            close = difflib.get_close_matches(wrong[0].split("=")[0], options, n=1) if wrong else []
            if close:
                message += f" (did you mean {close[0]}?)"
        self.exit(2, f"{self.prog}: error: {message}\n")


def _option_strings(parser: argparse.ArgumentParser):
    """Every flag of a parser and its subcommands (argparse reports strays at the top)."""
    for action in parser._actions:
        yield from action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from _option_strings(subparser)


def _flag_type(field: dataclasses.Field):
    annotation = str(field.type)
    return int if "int" in annotation else float if "float" in annotation else str


def _add_spec_flags(parser: argparse.ArgumentParser) -> None:
    from .spec import RunSpec

    group = parser.add_argument_group("run spec (Hugging Face example script names)")
    for field in dataclasses.fields(RunSpec):
        default = "" if field.default is None else f" (default: {field.default})"
        group.add_argument(
            f"--{field.name}",
            type=_flag_type(field),
            choices=field.metadata["choices"],
            default=argparse.SUPPRESS,  # absent flags must not override demo or resumed values
            help=field.metadata["help"] + default,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tpudeck", description="Train on a shared accelerator VM.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    train = sub.add_parser("train", help="train in the foreground, writing a run directory")
    train.add_argument(
        "--demo", action="store_true", help="the embedded demo: tiny GPT-2, offline corpus"
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output_dir from its latest checkpoint",
    )
    _add_spec_flags(train)
    sub.add_parser("demo", help="train the embedded demo (same as `train --demo`)")
    return parser


def _train(args: argparse.Namespace) -> int:
    from .runs.rundir import RunDir, run_dir_for
    from .spec import RunSpec

    given = {k: v for k, v in vars(args).items() if k not in ("command", "demo", "resume")}
    if args.resume:
        if "output_dir" not in given:
            raise TpudeckError("--resume needs --output_dir RUN_DIR: the run to continue")
        run_dir = RunDir(given["output_dir"])
        spec = RunSpec.load(run_dir.spec_path).replace(**given)
    else:
        base = {}
        if args.demo:
            from .demo import demo_settings

            base = demo_settings()
        spec = RunSpec.from_dict({**base, **given})
        run_dir = run_dir_for(spec)
    from .train.entry import EXIT_CODES, run_training

    print(f"run directory: {run_dir.path}", flush=True)
    return EXIT_CODES[run_training(spec, run_dir, resume=args.resume)]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        args = parser.parse_args(["train", "--demo"])
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("jax", "absl", "datasets", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _train(args)
    except TpudeckError as exc:
        print(f"tpudeck: error: {exc}", file=sys.stderr)
        return 2
