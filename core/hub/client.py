"""What tpudeck asks of the Hub: check a token and a repo, and commit a snapshot.

huggingface_hub does the talking (HF_ENDPOINT points it elsewhere, as the tests do). The
token lives in an HfApi object and the environment only: never in a file, event or log.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import TpudeckError
from .snapshot import files_of


class HubError(TpudeckError):
    """The Hub cannot take the push: no or bad token, no rights, unreachable."""


def status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_retriable(exc: Exception) -> bool:
    """Server trouble (5xx, 429) and network trouble are worth another try; the rest is not."""
    status = status_of(exc)
    if status is not None:
        return status >= 500 or status == 429
    network = ("TransportError", "ConnectionError", "Timeout", "TimeoutException")
    return isinstance(exc, OSError) or any(c.__name__ in network for c in type(exc).__mro__)


def refusal(exc: Exception, repo_id: str) -> str | None:
    """The reason when the Hub refused the token or the repo (which no retry will change)."""
    status = status_of(exc)
    if status == 401:
        return "the Hub refused the token (401): check --hub_token, HF_TOKEN or `hf auth login`"
    if status == 403:
        return (
            f"the token may not write to {repo_id} (403): use a write token, "
            "or a --hub_model_id in a namespace you own"
        )
    return None


def describe(exc: Exception) -> str:
    """A short name for a failure and the request that failed, fit for an event and a screen:
    "HfHubHTTPError 404 on POST /api/validate-yaml"."""
    status = status_of(exc)
    text = f"{type(exc).__name__} {status}" if status else type(exc).__name__
    request = _request_of(exc)
    if request is not None:
        text += f" on {request.method} {request.url.path}"
    return text


def _request_of(exc: Exception):
    response = getattr(exc, "response", None)
    try:  # httpx raises when a response was built without its request
        return getattr(response, "request", None) or getattr(exc, "request", None)
    except RuntimeError:
        return None


def repo_name(run_name: str) -> str:
    """A Hub-legal repo name from a run name: letters, digits, - _ . ; no '--' or '..'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_name)
    name = re.sub(r"([-.])[-.]+", r"\1", name).strip("-.")
    return name[:96] or "tpudeck-run"


def connect(repo_id: str | None, run_name: str, private: bool, token: str | None,
            repo_type: str = "model"):  # fmt: skip
    """Check the token and create the repo (if new; a Space runs Gradio), before any
    accelerator is taken.

    Returns (HfApi, repo id); a missing, read-only or refused token, a repo that cannot be
    created and an unreachable Hub are each a one-line HubError naming the fix.
    """
    from huggingface_hub import HfApi, constants, get_token

    token = token or get_token()
    if not token:
        raise HubError("no Hub token: pass --hub_token, set HF_TOKEN, or run `hf auth login`")
    api = HfApi(token=token)
    target = repo_id or "the Hub"
    try:
        me = api.whoami()
        if me.get("auth", {}).get("accessToken", {}).get("role") == "read":
            raise HubError("the Hub token is read-only: pass a token with write access")
        target = repo_id or f"{me['name']}/{repo_name(run_name)}"
        sdk = "gradio" if repo_type == "space" else None
        api.create_repo(target, private=private, exist_ok=True, repo_type=repo_type,
                        space_sdk=sdk)  # fmt: skip
    except HubError:
        raise
    except Exception as exc:  # httpx and HfHubHTTPError, told apart by status
        reason = refusal(exc, target)
        if reason is None and is_retriable(exc):
            reason = (
                f"cannot reach the Hub at {constants.ENDPOINT} ({describe(exc)}): check the "
                "network or HF_ENDPOINT"
                + (", or launch without --push_to_hub" if repo_type == "model" else "")
            )
        raise HubError(reason or f"the Hub rejected {target} ({describe(exc)})") from None
    return api, target


def commit_snapshot(api, repo_id: str, snapshot: Path, message: str) -> str:
    """One commit of every file of a snapshot; returns the commit URL."""
    from huggingface_hub import CommitOperationAdd

    operations = [CommitOperationAdd(path, str(local)) for path, local in files_of(snapshot)]
    return api.create_commit(repo_id, operations, commit_message=message).commit_url
