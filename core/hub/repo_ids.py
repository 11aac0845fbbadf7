"""Which names are Hub repo ids, and what of them the cache holds, without the network.

Light on imports (huggingface_hub only when a Hub id is looked up): spec validation and
the Launch screen use it.
"""

from __future__ import annotations

import re
from pathlib import Path

# The Hub's rule for repo names: letters, digits, - _ . ; at most 96 characters.
REPO_NAME = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]{0,95}$")


def hub_id(location: str | None) -> str | None:
    """The Hub repo id `location` names, or None when it is a local path (or nothing): as
    transformers decides, a name no local path has that reads as `org/name` or `name`."""
    if not location or Path(location).exists() or not REPO_NAME.match(location):
        return None
    return None if "--" in location or ".." in location else location


def cached_file(spec, repo: str, filename: str) -> Path | None:
    """The file of the Hub repo at spec.model_revision when the cache holds it, else None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        repo, filename, cache_dir=spec.cache_dir, revision=spec.model_revision
    )
    return Path(found) if isinstance(found, str) else None


def not_cached(what: str, cache: str | None = None) -> str:
    """Why a Hub repo that the cache lacks cannot be had now, and the fix."""
    from huggingface_hub import constants

    why = (
        "HF_HUB_OFFLINE is set"
        if constants.HF_HUB_OFFLINE
        else f"the Hub at {constants.ENDPOINT} cannot be reached"
    )
    where = f" ({cache})" if cache else ""
    return (
        f"{what} is not in the cache{where} and {why}: download it once with the network up "
        "(then HF_HUB_OFFLINE=1 works)"
    )


def unreachable(exc: Exception) -> bool:
    """Whether the Hub was not reached at all (offline, refused, timed out), as against
    answering with an HTTP error."""
    if getattr(exc, "response", None) is not None:
        return False
    transport = any(c.__name__ == "TransportError" for c in type(exc).__mro__)  # httpx's
    return transport or isinstance(exc, OSError)  # OfflineModeIsEnabled is one
