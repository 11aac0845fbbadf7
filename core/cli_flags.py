"""The `tpudeck` command's parser and flag groups: one-line errors naming the closest flag,
the RunSpec fields and the HF scripts' other flags as flags, and the launch flags."""

from __future__ import annotations

import argparse
import dataclasses
import difflib

TOKEN_HELP = "Hub token; default: $HF_TOKEN or `hf auth login`. Never written anywhere"


class Parser(argparse.ArgumentParser):
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


def add_spec_flags(parser: argparse.ArgumentParser) -> None:
    from .spec import RunSpec, field_type

    group = parser.add_argument_group("run spec (Hugging Face example script names)")
    for field in dataclasses.fields(RunSpec):
        default = "" if field.default is None else f" (default: {field.default})"
        group.add_argument(
            f"--{field.name}",
            choices=field.metadata["choices"],
            default=argparse.SUPPRESS,  # absent flags must not override demo or resumed values
            help=field.metadata["help"] + default,
            **_typed(field_type(field.name)),
        )


def add_script_flags(parser: argparse.ArgumentParser) -> None:
    """The HF scripts' flags that are not spec fields: none of them is "unrecognized"."""
    from .script_flags import FLAGS

    group = parser.add_argument_group("other flags of the Hugging Face scripts")
    for name, flag in FLAGS.items():
        does = f"another name for --{flag.field}" if flag.field else flag.instead or flag.sets[1]
        group.add_argument(f"--{name}", default=argparse.SUPPRESS, help=does, **_typed(flag.kind))


def _typed(kind: type) -> dict:
    """How a flag of `kind` parses; a switch works alone (`--push_to_hub`) or with a value
    (`--push_to_hub false`)."""
    if kind is bool:
        return dict(type=_switch_value, nargs="?", const=True, metavar="BOOL")
    return dict(type=kind)


def _switch_value(text: str) -> bool:
    from .spec import parse_bool

    try:
        return parse_bool(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants true or false, got {text!r}") from None


def add_queue_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("queue")
    group.add_argument(
        "--priority", type=int, default=0,
        help="higher runs first (default 0); ahead of another user's earlier run only as root",
    )  # fmt: skip
    group.add_argument(
        "--after", metavar="RUN",
        help="start only when RUN finishes; cancelled (with the reason) if it fails or stops",
    )  # fmt: skip


def add_launch_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("launch")
    group.add_argument(
        "--detach", action="store_true", help="run in the background; survives the terminal"
    )
    group.add_argument(
        "--wait", dest="wait", action="store_true", default=True, help="queue if busy (default)"
    )
    group.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="fail at once if the accelerator is busy",
    )
    group.add_argument("--hub_token", help=TOKEN_HELP)
    group.add_argument(
        "--hosts",
        metavar="local:N|gcloud:TPU[:ZONE]|ray:N[:ADDRESS]",
        help="train on several hosts: every worker of a TPU VM slice (or N processes here)",
    )
