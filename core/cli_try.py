"""`tpudeck try RUN|DIR|HUB_ID`: run a trained model on an input and print what it gives,
by the task its head does (trying/model.py); `--json` for scripts. Text generation
prints the new text as it is produced."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import SpecError, TpudeckError


def add_try_command(sub) -> None:
    tried = sub.add_parser(
        "try", help="try a run's model, a checkpoint folder or a Hub id on an input"
    )
    tried.add_argument("target", help="a run (id, name or folder), a checkpoint folder or Hub id")
    tried.add_argument("--text", help="the prompt, the text with a mask, or the text to classify")
    tried.add_argument("--image", help="image-classification: the image file")
    tried.add_argument("--max_new_tokens", type=int, default=40)
    tried.add_argument("--do_sample", action="store_true", help="sample instead of greedy")
    tried.add_argument("--temperature", type=float, default=1.0)
    tried.add_argument("--top_k", type=int, default=0, help="sampling: keep the k likeliest")
    tried.add_argument("--top_p", type=float, default=1.0, help="sampling: nucleus share")
    tried.add_argument("--num_beams", type=int, default=1, help="beam search with N beams")
    tried.add_argument("--seed", type=int, default=0, help="sampling's random seed")
    tried.add_argument(
        "--step", type=int, action="append",
        help="a run's checkpoint at this step instead of its export; twice: side by side",
    )  # fmt: skip
    tried.add_argument(
        "--json", action="store_true", help="one JSON object per model, nothing streamed"
    )
    tried.set_defaults(handler=cmd_try)


def model_folders(target: str, steps: list[int] | None) -> list[tuple[str | None, Path]]:
    """(a label, the checkpoint folder) of each model `target` names: a folder with a
    config.json, a run's exported model or its checkpoints at `steps` (exported now if
    not before), or a Hub id's snapshot (fetched into the cache if missing)."""
    if not steps:
        return [(None, model_folder(target))]
    from .runs.store import RunStore
    from .trying.checkpoints import checkpoint_model

    run_dir = RunStore().find(target).run_dir
    return [(f"step {step}", checkpoint_model(run_dir, step)) for step in steps]


def model_folder(target: str) -> Path:
    from .hub.repo_ids import hub_id
    from .runs.store import RunStore

    if Path(target, "config.json").is_file():
        return Path(target)
    try:
        run, not_a_run = RunStore().find(target), None
    except TpudeckError as exc:
        run, not_a_run = None, exc
    if run is not None:
        model = run.run_dir.model_dir
        if not (model / "config.json").is_file():
            raise SpecError(
                f"run {run.run_id} has no model yet: it exports one at each checkpoint "
                "(--save_steps) and when it ends; try again then"
            )
        return model
    if hub_id(target):
        from .hub.pretrained import fetch
        from .spec import RunSpec

        return Path(fetch(RunSpec(model_name_or_path=target)).model_name_or_path)
    raise SpecError(f"{target} is not a checkpoint folder or Hub id, and {not_a_run}")


def cmd_try(args: argparse.Namespace) -> int:
    from .runs.home import tpudeck_home
    from .trying.placement import place

    for flag in ("max_new_tokens", "num_beams"):
        if getattr(args, flag) < 1:
            raise SpecError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    models = model_folders(args.target, args.step)
    lock, note = place(tpudeck_home())  # before jax is imported: it may pick the CPU
    try:
        if note:
            print(f"tpudeck: {note}", file=sys.stderr)
        for label, folder in models:
            if label and not args.json:
                print(f"== {label} ({folder})")
            _try(args, folder, label)
        return 0
    finally:
        if lock is not None:
            lock.release()


def _try(args: argparse.Namespace, folder: Path, label: str | None) -> None:
    from .trying.model import Generation, TriedModel
    from .trying.tasks import GENERATING

    model = TriedModel(folder)
    if model.task == "image-classification":
        if not args.image:
            raise SpecError(f"{folder} classifies images: pass --image PATH")
        result = model.classify_image(args.image)
    elif not args.text:
        raise SpecError(f"{folder} does {model.task}: pass --text TEXT")
    elif model.task in GENERATING:
        settings = Generation(args.max_new_tokens, args.do_sample, args.temperature,
                              args.top_k, args.top_p, args.num_beams, args.seed)  # fmt: skip
        result = model.generate(args.text, settings, None if args.json else _printer())
    elif model.task == "fill-mask":
        result = model.fill_mask(args.text)
    else:
        result = model.classify(args.text)
    if args.json:
        labelled = {"checkpoint": label} if label else {}
        print(json.dumps({"task": model.task, "model": str(folder), **labelled, "result": result}))
    else:
        _show(model.task, result)


def _printer():
    """Prints generated text as it grows (each call has all of it so far)."""
    shown = [""]

    def show(text: str) -> None:
        new = text[len(shown[0]) :] if text.startswith(shown[0]) else "\n" + text
        print(new, end="", flush=True)
        shown[0] = text

    return show


def _show(task: str, result) -> None:
    from .trying.tasks import GENERATING

    if task in GENERATING:
        print()
        if result["truncated"]:
            print(f"(the input was cut to {result['truncated']})", file=sys.stderr)
    elif task == "fill-mask":
        for row in result:
            print(f"{row['score']:.3f}  {row['token']:<16} {row['sequence']}")
    else:
        for row in result:
            print(f"{row['score']:.3f}  {row['label']}")
