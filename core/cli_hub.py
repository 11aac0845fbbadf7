"""The Hub commands. `tpudeck push RUN`: a finished run's model, TensorBoard traces and card
(hub/sync.py). `tpudeck space RUN|HUB_ID --space_id ORG/NAME`: a Gradio demo of a model on
the Hub as a Space (hub/space.py), with examples from the run's own data; `--out DIR`
writes the app there too (or instead), to read or run it locally first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli_flags import TOKEN_HELP
from .errors import SpecError, TpudeckError


def add_hub_commands(sub) -> None:
    push = sub.add_parser("push", help="push a run's model, TensorBoard traces and card to the Hub")
    push.add_argument("run")
    push.add_argument(
        "--hub_model_id", help="namespace/name of the Hub repo; default: the run's, or its name"
    )
    push.add_argument("--hub_private", action="store_true", help="create the repo private")
    push.add_argument("--hub_token", help=TOKEN_HELP)
    push.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to keep retrying a dead Hub"
    )
    push.set_defaults(handler=cmd_push)

    space = sub.add_parser("space", help="publish a Gradio demo of a run's pushed model")
    space.add_argument("target", help="a run (id, name or folder), or a model's Hub id")
    space.add_argument("--space_id", help="namespace/name of the Space to create or update")
    space.add_argument("--out", help="also write the app into this folder")
    space.add_argument(
        "--model_id", help="the Hub model the app runs; default: the one the run pushed"
    )
    space.add_argument("--private", action="store_true", help="create the Space private")
    space.add_argument("--hub_token", help=TOKEN_HELP)
    space.set_defaults(handler=cmd_space)


def cmd_push(args: argparse.Namespace) -> int:
    from .hub.sync import push_run
    from .runs.procs import is_alive
    from .runs.rundir import FINAL_STATES
    from .runs.store import RunStore

    record = RunStore().find(args.run)
    if record.state not in FINAL_STATES or is_alive(
        record.status.get("pid"), record.status.get("pid_start")
    ):
        raise TpudeckError(
            f"run {record.run_id} is still {record.state}: a run launched with --push_to_hub "
            "pushes itself; push others once they end"
        )
    url = push_run(
        record.run_dir, args.hub_model_id, args.hub_token, args.hub_private, args.timeout
    )
    print(f"pushed run {record.run_id}: {url}")
    return 0


def cmd_space(args: argparse.Namespace) -> int:
    from .hub.repo_ids import hub_id
    from .hub.space import push_space

    if not args.space_id and not args.out:
        raise SpecError("say where the app goes: --space_id ORG/NAME (the Hub), --out DIR, or both")
    for flag in ("space_id", "model_id"):  # the Space runs on the Hub: it names Hub repos
        value = getattr(args, flag)
        if value is not None and (hub_id(value) != value or "/" not in value):
            raise SpecError(
                f"--{flag} {value!r} is not a Hub repo id: give namespace/name, in letters, "
                "digits, - _ ."
            )
    app = space_app(args.target, args.model_id, args.space_id)
    if args.out:
        written = app.write(Path(args.out))
        print(f"wrote {', '.join(p.name for p in written)} into {args.out}")
    if args.space_id:
        url = push_space(app, args.space_id, args.private, args.hub_token)
        print(f"pushed the {app.task} demo of {app.model_id} to the Space {args.space_id}: {url}")
    return 0


def space_app(target: str, model_id: str | None, space_id: str | None):
    """The SpaceApp for a run (its export's task, the model it pushed, examples from its
    data) or a Hub model id (the task of its config.json, no examples)."""
    from .hub.repo_ids import hub_id
    from .hub.space import SpaceApp
    from .runs.store import RunStore

    try:
        run = RunStore().find(target)
    except TpudeckError as not_a_run:
        if not hub_id(target):
            raise SpecError(f"{target} is not a run or a Hub model id ({not_a_run})") from None
        model_id = model_id or target
        task = _hub_model_task(model_id)
        return SpaceApp(_name(space_id, model_id), task, model_id, [])
    return _run_app(run, model_id, space_id)


def _run_app(run, model_id: str | None, space_id: str | None):
    from .hub.card import example_text, export_task
    from .hub.space import SpaceApp

    run_dir = run.run_dir
    task = export_task(run_dir)
    if task is None:
        raise SpecError(
            f"run {run.run_id} has no model yet: it exports one at each checkpoint and when "
            "it ends; publish its demo then"
        )
    if model_id is None:
        pushed = [e for e in run_dir.read_events("push") if e.get("status") == "done"]
        if not pushed:
            raise SpecError(
                f"run {run.run_id} has pushed no model to the Hub: `tpudeck push "
                f"{run.run_id}` (or launch with --push_to_hub), or pass --model_id ID"
            )
        model_id = pushed[-1]["repo"]
    spec = json.loads(run_dir.spec_path.read_text())
    name = _name(space_id, model_id)
    if task == "image-classification":
        image = _example_image(spec)
        shipped = {f"example{image.suffix.lower()}": image} if image else {}
        return SpaceApp(name, task, model_id, list(shipped), shipped)
    text = example_text(run_dir, spec, task)
    return SpaceApp(name, task, model_id, [text] if text else [])


def _name(space_id: str | None, model_id: str) -> str:
    return (space_id or model_id).split("/")[-1]


def _example_image(spec: dict) -> Path | None:
    """The first image of the run's validation (else training) class folders."""
    from .data.image_folder import class_names, images_in

    folder = spec.get("validation_dir") or spec.get("train_dir")
    for name in class_names(folder) if folder else []:
        return images_in(Path(folder) / name)[0]
    return None


def _hub_model_task(model_id: str) -> str:
    """The task of a Hub model's config.json, fetched alone (the weights stay there)."""
    from huggingface_hub import hf_hub_download

    from .trying.tasks import TASKS, family_and_head

    try:
        config = json.loads(Path(hf_hub_download(model_id, "config.json")).read_text())
    except Exception as exc:  # huggingface_hub's errors: missing, gated, offline
        raise SpecError(
            f"cannot read the config.json of {model_id} on the Hub ({type(exc).__name__}): "
            "check the id, HF_TOKEN for a gated repo, and the network"
        ) from None
    return TASKS[family_and_head(config, model_id)[1]]
