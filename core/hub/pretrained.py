"""Models, configs and tokenizers named by Hub id: found in huggingface_hub's cache or
downloaded into it while a run prepares, before the accelerator is taken.

A name is a Hub id when no local path has it and it reads as one (`org/name`, or a
canonical `name` such as `roberta-base`), as transformers decides. huggingface_hub does
the talking and honours HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE and the token (HF_TOKEN or
`hf auth login`); only the files a run reads are fetched: the config, the tokenizer and
one weights format (weights_file's preference), not every format a repo carries.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from ..data.tokenizer_files import SLOW_TOKENIZER_FILES, TOKENIZER_FILES
from ..errors import SpecError
from ..models.weights_file import FORMATS, NO_WEIGHTS, weights_name
from .repo_ids import hub_id, not_cached, unreachable

# (the repo, bytes done, bytes in all) of a download, as it goes.
Progress = Callable[[str, int, int], None]


def _model_files(names: list[str]) -> list[str]:
    weights = weights_name(names)
    if weights is None:
        raise LookupError(NO_WEIGHTS)
    return ["config.json", *TOKENIZER_FILES, *SLOW_TOKENIZER_FILES, *FORMATS[weights]]


# The spec fields that may name a Hub repo -> the files of it a run reads.
FIELDS = {
    "model_name_or_path": _model_files,
    "config_name": lambda _names: ["config.json"],
    # config.json too: AutoTokenizer reads the model type in it to convert slow files
    "tokenizer_name": lambda _names: ["config.json", *TOKENIZER_FILES, *SLOW_TOKENIZER_FILES],
}


def fetch(spec, progress: Progress | None = None):
    """`spec` with each Hub id replaced by its snapshot folder in the cache, downloaded now
    where the cache lacks it. Raises SpecError naming the fix."""
    changes = {}
    for field, files in FIELDS.items():
        repo = hub_id(getattr(spec, field))
        if repo:
            changes[field] = _snapshot(spec, field, repo, files, progress)
    return dataclasses.replace(spec, **changes) if changes else spec


def _snapshot(spec, field: str, repo: str, files, progress: Progress | None) -> str:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where, revision = f"--{field} {repo}", spec.model_revision
    try:
        names, online = _listing(spec, repo)
        return snapshot_download(
            repo, revision=revision, cache_dir=spec.cache_dir, allow_patterns=files(names),
            local_files_only=not online, tqdm_class=_progress_bars(progress, repo),
        )  # fmt: skip
    except LookupError as exc:
        raise SpecError(f"{where}: the Hub repo has {exc}; pick another repo") from None
    except GatedRepoError:
        raise SpecError(
            f"{where} is gated: accept its terms on its Hub page, then use a token that did "
            "(HF_TOKEN or `hf auth login`)"
        ) from None
    except RepositoryNotFoundError:
        raise SpecError(
            f"{where}: no such local folder, and no Hub repo of that name at "
            f"{constants.ENDPOINT} (a private one needs a token: HF_TOKEN or `hf auth login`); "
            "check the path or the id"
        ) from None
    except RevisionNotFoundError:
        raise SpecError(f"{where}: the Hub repo has no revision {revision!r}; "
                        "check --model_revision") from None  # fmt: skip
    except (LocalEntryNotFoundError, _Unreachable):
        raise SpecError(not_cached(where, spec.cache_dir or constants.HF_HUB_CACHE)) from None
    except HfHubHTTPError as exc:
        raise SpecError(f"{where}: the Hub answered {exc.response.status_code}; "
                        "try again later") from None  # fmt: skip


class _Unreachable(Exception):
    """Neither the Hub nor the cache can list the repo's files."""


def _listing(spec, repo: str) -> tuple[list[str], bool]:
    """(the repo's file names, whether the Hub answered): the Hub's listing, else the one
    cached when it was last downloaded (offline, or the Hub unreachable)."""
    from huggingface_hub import HfApi, constants, get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    if not constants.HF_HUB_OFFLINE:
        try:  # model_info asks once; a listing would retry a dead Hub for half a minute
            info = HfApi().model_info(repo, revision=spec.model_revision)
            return [f.rfilename for f in info.siblings or ()], True
        except Exception as exc:
            if not unreachable(exc):
                raise
    try:
        tree = get_cached_repo_tree(repo, revision=spec.model_revision, cache_dir=spec.cache_dir)
    except CachedRepoTreeNotFoundError:
        raise _Unreachable from None
    return [f.path for f in tree], False


def _progress_bars(progress: Progress | None, repo: str):
    """A tqdm class for snapshot_download that draws nothing and tells `progress` the bytes
    of `repo` done, at most once a second (and once at the end)."""
    if progress is None:
        return None
    from tqdm import tqdm

    last = [0.0, 0]  # when, and the bytes then (two bars count the same bytes)

    class Reported(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": _Nowhere()})

        def update(self, n=1):
            super().update(n)
            now = time.monotonic()
            due = now - last[0] >= 1 or self.n >= (self.total or 0)
            if self.unit == "B" and self.n != last[1] and due:
                last[:] = now, self.n
                progress(repo, int(self.n), int(self.total or self.n))

    return Reported


class _Nowhere:
    """A stream that drops what is written: the bars are reported, not drawn."""

    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass
