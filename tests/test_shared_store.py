"""A team's run store: two real Unix users of one group launch into one TPUDECK_HOME."""

import grp
import os
import stat
import tempfile
from pathlib import Path

import pytest

from .builders import as_user, lock_was_taken

# A foreground training run needs these loaded before the process becomes another user.
TRAINER_MODULES = (
    "import jax, datasets, tensorboardX; jax.jit(lambda x: x + 1)(1)\n"
    "import multiprocessing.queues, multiprocessing.synchronize, tensorboardX.event_file_writer\n"
    "import tpudeck.core.train.entry, tpudeck.core.train.loop, tpudeck.core.recipes.clm\n"
    "import tpudeck.core.models.family, tpudeck.core.runs.guard"
)
TRAIN = ["train", "--demo", "--max_steps", "2", "--save_steps", "2"]


@pytest.fixture
def team_home(team):
    """A folder as a team sets it up: its group, group-writable, setgid."""
    home = Path(tempfile.mkdtemp(dir="/tmp", prefix="team-store-"))
    os.chown(home, -1, grp.getgrnam("tpudeck-team").gr_gid)
    os.chmod(home, 0o2775)
    return home


def launch(user, home: Path, argv: list[str] = TRAIN) -> tuple[int, str]:
    cache = home.with_name(f"{home.name}-cache-{user.pw_name}")  # each user's own 🤗 cache
    cache.mkdir(exist_ok=True)
    os.chown(cache, user.pw_uid, user.pw_gid)
    return as_user(user, argv, home, TRAINER_MODULES, env={"HF_HOME": str(cache)})


def mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


@pytest.mark.slow
def test_the_second_user_of_a_team_store_can_launch(team, team_home):
    alice, bob = team
    code, err = launch(alice, team_home)
    assert code == 0, err
    for folder in ("runs", "locks", "queue"):  # made by alice under umask 022
        assert mode(team_home / folder) == "drwxrwsr-x", folder
    assert mode(team_home / "locks" / "holders.jsonl")[4:6] == "rw"
    code, err = launch(bob, team_home)
    assert code == 0, err
    owners = {p.resolve().stat().st_uid for p in (team_home / "runs").iterdir()}
    assert owners == {alice.pw_uid, bob.pw_uid} and lock_was_taken(team_home)


def test_a_store_folder_nobody_can_share_names_the_chmod(team, team_home):
    alice, bob = team
    code, err = as_user(alice, ["ls"], team_home)
    assert code == 0, err
    os.chmod(team_home / "runs", 0o2755)  # as an older tpudeck left it
    assert as_user(bob, ["ls"], team_home) == (0, "")  # reading needs no repair
    refused = ["train", "--demo", "--text_column", "nope"]
    code, err = launch(bob, team_home, refused)
    runs = team_home / "runs"
    assert code == 2 and err.strip().splitlines() == [
        f"tpudeck: error: {runs} (drwxr-sr-x, owner tpudeck-alice) is not writable for "
        f"tpudeck-bob: tpudeck-alice or root can fix it with `chmod g+rwxs {runs}` and "
        f"`chgrp -R GROUP {team_home}`"
    ], err
    code, err = as_user(alice, ["ls"], team_home)  # its owner's next command repairs it
    assert code == 0 and mode(runs) == "drwxrwsr-x", err
    code, err = launch(bob, team_home, refused)
    assert code == 2 and "has no column 'nope'" in err  # past the store, to bob's own mistake
