"""Push a run's exported model, TensorBoard traces and card to the Hub, with retries.

Network errors and 5xx answers are retried with backoff; a 401/403 stops at once with a
reason. Every step is a `push` event in the run's events.jsonl. The token is passed to
huggingface_hub and never written anywhere.
"""

from __future__ import annotations

import time

from ..errors import TpudeckError
from ..runs.rundir import RunDir
from .card import model_card


class HubError(TpudeckError):
    """The Hub refused the push (bad token, no rights) or stayed unreachable."""


def _operations(run_dir: RunDir, card: str):
    from huggingface_hub import CommitOperationAdd

    if not (run_dir.model_dir / "model.safetensors").is_file():
        raise HubError(
            f"run {run_dir.run_id} has no exported model yet: push it once it has checkpointed"
        )
    ops = [
        CommitOperationAdd(p.name, str(p))
        for p in sorted(run_dir.model_dir.iterdir())
        if p.is_file()
    ]
    if run_dir.tensorboard_dir.is_dir():  # the Hub's "Training metrics" tab reads these
        ops += [
            CommitOperationAdd(f"runs/{p.name}", str(p))
            for p in sorted(run_dir.tensorboard_dir.iterdir())
        ]
    ops.append(CommitOperationAdd("README.md", card.encode()))
    return ops


def _status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retriable(exc: Exception, status: int | None) -> bool:
    """Server trouble (5xx, 429) and network trouble are worth another try; the rest is not."""
    if status is not None:
        return status >= 500 or status == 429
    network = ("TransportError", "ConnectionError", "Timeout", "TimeoutException")
    return isinstance(exc, OSError) or any(c.__name__ in network for c in type(exc).__mro__)


def push_run(run_dir: RunDir, repo_id: str, token: str | None, private: bool = False,
             attempts: int = 5, first_wait: float = 1.0) -> str:  # fmt: skip
    """Create the repo if needed and commit the run to it; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    run_dir.emit("push", status="queued", repo=repo_id)
    wait = first_wait
    for attempt in range(1, attempts + 1):
        run_dir.emit("push", status="started", repo=repo_id, attempt=attempt)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            commit = api.create_commit(
                repo_id,
                _operations(run_dir, model_card(run_dir, repo_id)),
                commit_message=f"tpudeck: {run_dir.run_id}",
            )
        except HubError as exc:
            run_dir.emit("push", status="failed", repo=repo_id, error=str(exc))
            raise
        except Exception as exc:  # requests/httpx errors and HfHubHTTPError, by status
            status = _status_of(exc)
            if status in (401, 403):
                reason = (
                    f"the Hub refused the token ({status}): check --hub_token or `hf auth login`"
                )
                run_dir.emit("push", status="failed", repo=repo_id, error=reason)
                raise HubError(reason) from None
            if attempt == attempts or not _retriable(exc, status):
                reason = f"push to {repo_id} failed after {attempt} attempts: {type(exc).__name__} {status or ''}".strip()
                run_dir.emit("push", status="failed", repo=repo_id, error=reason)
                raise HubError(reason + "; try `tpudeck push` again later") from None
            run_dir.emit("push", status="retry", repo=repo_id, error=f"{type(exc).__name__} {status or ''}".strip(),
                         retry_in_s=wait)  # fmt: skip
            time.sleep(wait)
            wait *= 2
            continue
        url = commit.commit_url
        run_dir.emit("push", status="done", repo=repo_id, url=url)
        return url
    raise AssertionError("unreachable")
