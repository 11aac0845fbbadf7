"""The Run screen's Hub panel: where the run pushes, what the pusher is doing, what landed.

Built from the run's `push` events alone (the token never appears in them).
"""

from __future__ import annotations

import time

from textual.markup import escape

from .run_rows import format_duration

RECENT = 4  # event lines under the headline


def repo_url(pushes: list[dict]) -> str | None:
    """The repo's page, from the newest commit URL (…/namespace/name/commit/oid)."""
    for push in reversed(pushes):
        if url := push.get("url"):
            return url.split("/commit/")[0]
    return None


def headline(push: dict, now: float) -> str:
    """What the pusher is doing now, from its newest event."""
    step = f"step {push['step']}" if push.get("step") is not None else "the run"
    status = push.get("status")
    if status == "queued":
        return f"{step} waiting to push"
    if status == "started":
        return f"pushing {step} (attempt {push.get('attempt', 1)})"
    if status == "retry":
        return f"{step}: {push.get('error')}; retry in {push.get('retry_in_s')} s"
    if status == "done":
        ago = format_duration(max(0.0, now - push.get("t", now)))
        return f"[green]✓[/green] {step} pushed {escape(ago)} ago"
    return f"[red]✗[/red] {escape(str(push.get('error') or 'failed'))}"


def hub_panel(pushes: list[dict], now: float | None = None) -> str:
    if not pushes:
        return "[b]Hub[/b]\nno pushes (launch with --push_to_hub, or `tpudeck push RUN`)"
    now = time.time() if now is None else now
    repo = pushes[-1].get("repo") or "?"
    lines = [f"[b]Hub[/b] {escape(repo)}", headline(pushes[-1], now)]
    if url := repo_url(pushes):
        lines.append(escape(url))
    for push in pushes[-RECENT - 1 : -1][::-1]:
        step = push.get("step")
        detail = push.get("error") or ""
        lines.append(
            escape(f"  {push.get('status')} {'' if step is None else step} {detail}".rstrip())
        )
    return "\n".join(lines)
