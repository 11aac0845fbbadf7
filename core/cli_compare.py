"""`tpudeck compare RUN RUN ...`: runs' final and best figures side by side, and the settings
that differ between them (a sweep's one knob, a fine-tune's base model)."""

from __future__ import annotations

import json

from .errors import TpudeckError
from .runs.compare import comparison, setting_lines, summary_table
from .runs.store import RunStore


def add_compare_command(sub) -> None:
    compare = sub.add_parser(
        "compare", help="runs side by side: final and best evaluations, settings that differ"
    )
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more runs")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=cmd_compare)


def cmd_compare(args) -> int:
    if len(args.runs) < 2:
        raise TpudeckError("compare needs two or more runs: tpudeck compare RUN RUN ...")
    store = RunStore()
    report = comparison([store.find(ref) for ref in args.runs])
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(table(report["runs"]))
    differing = report["differing_settings"]
    print("\nsettings that differ:" if differing else "\nno setting differs")
    for line in setting_lines(differing):
        print(f"  {line}")
    return 0


def table(runs: list[dict]) -> str:
    heads, rows = summary_table([(r["run_id"], r["state"], r) for r in runs])
    rows = [[h.upper() for h in heads], *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(heads))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip
