"""$TPUDECK_HOME, the run store a team may share, and the folders every user writes in it.

A team points TPUDECK_HOME at a group-writable folder (README: "Sharing one VM"). The
folders every user writes (runs/, locks/, queue/, ...) must then be group-writable and
setgid whatever the creating user's umask, or the next user's launch fails. A run's own
directory stays its owner's: others only read it.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from ..errors import TpudeckError
from .procs import current_user

# Mode bits a team store's shared folders get: group rwx plus setgid (files keep the group).
_SHARED_DIR_BITS = stat.S_IRWXG | stat.S_ISGID
_SHARED_FILE_BITS = stat.S_IRGRP | stat.S_IWGRP


def tpudeck_home() -> Path:
    return Path(os.environ.get("TPUDECK_HOME") or Path.home() / ".tpudeck")


def check_home() -> Path:
    """The home folder, or one line naming the fix when it cannot be one."""
    home = tpudeck_home()
    if home.exists() and not home.is_dir():
        raise TpudeckError(
            f"TPUDECK_HOME {home} is a file, not a folder: point TPUDECK_HOME at a folder"
        )
    return home


SHARED_FOLDERS = ("runs", "locks", "queue")


def open_store(writing: bool = True) -> Path:
    """The home with its shared folders made, or repaired where we own them. Every command
    starts here; one that writes (a launch) and finds a folder it cannot write and nobody
    here can repair gets one line naming the chmod."""
    home = check_home()
    for name in SHARED_FOLDERS:
        try:
            store_folder(name, home)
        except TpudeckError:
            if writing:
                raise
    return home


def is_team_store(home: Path) -> bool:
    """A home whose folder the group may write is shared by a team."""
    try:
        return bool(home.stat().st_mode & stat.S_IWGRP)
    except OSError:
        return False


def store_folder(name: str, home: Path | None = None) -> Path:
    """$TPUDECK_HOME/NAME, created (group-writable in a team store) or repaired if we own it.

    A folder that we can neither write nor repair is a one-line error naming the chmod.
    """
    home = check_home() if home is None else Path(home)
    path = home / name
    try:
        home.mkdir(parents=True, exist_ok=True)
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise TpudeckError(
            f"cannot create {path} ({exc.strerror}); set TPUDECK_HOME to a folder you can write"
        ) from None
    if is_team_store(home):
        share(path)
    if not os.access(path, os.W_OK | os.X_OK):
        info = path.stat()
        owner = _user_name(info.st_uid)
        raise TpudeckError(
            f"{path} ({stat.filemode(info.st_mode)}, owner {owner}) is not writable for "
            f"{current_user()}: {owner} or root can fix it with `chmod g+rwxs {path}` "
            f"and `chgrp -R GROUP {home}`"
        )
    return path


def share(path: Path) -> None:
    """Give the group write access to `path` in a team store, if we own it (else leave it)."""
    try:
        info = path.stat()
        if info.st_uid != os.geteuid():
            return
        bits = _SHARED_DIR_BITS if stat.S_ISDIR(info.st_mode) else _SHARED_FILE_BITS
        if info.st_mode & bits != bits:
            os.chmod(path, stat.S_IMODE(info.st_mode) | bits)
    except OSError:
        return  # a repair we cannot make is reported by the access check that follows


def share_file(path: Path) -> None:
    """A file every user of a team store writes (the lock, the holders' log)."""
    if is_team_store(path.parent.parent):
        share(path)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
