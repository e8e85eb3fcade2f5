"""Files and directories that only the server's own user may read: mode 0600 for files,
0700 for directories, whatever the process's umask.

The data the server keeps on disk is all secret: the SQLite database (password hashes,
every message, the VAPID private key), its ``-wal`` and ``-shm``, the files people
shared, uploads under way and the JWT secret. A umask of 022 (the usual default) would
make each of them readable by every local user, so every place that creates one asks
for the private mode here, at creation (never a chmod afterwards, which leaves a moment
when others can open it). SQLite makes its ``-wal`` and ``-shm`` with the permissions of
the database file, so creating that file 0600 before SQLite opens it is enough.

`tighten` is for what an earlier release made: it takes group and others' bits off one
path. It lives in the store, the lowest layer that touches the disk, so that the store,
the file storage, the application and the process can all use it.

Blocking file I/O: call these through `trio.to_thread.run_sync`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: A private file's mode: read and write for its owner only.
PRIVATE_FILE = 0o600
#: A private directory's mode: its owner only may list, enter and write it.
PRIVATE_DIRECTORY = 0o700
#: The bits of group and others, which no private path keeps.
_SHARED_BITS = 0o077


def make_private_directory(path: Path) -> None:
    """Make `path` and whichever of its parents are missing, each 0700 (`Path.mkdir`
    would make the parents by the umask); an existing directory is left as it is."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY)
        except FileExistsError:
            pass  # another process (a worker) made it meanwhile


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """An ``opener`` for `open` and `trio.open_file`: a file it creates is 0600."""
    return os.open(path, flags, PRIVATE_FILE)


def create_private_file(path: Path) -> None:
    """Create `path`, empty and 0600, unless it exists: for a file that another library
    then opens by name (SQLite's database).

    An existing file is never opened here (O_EXCL): closing a descriptor of a file drops
    every POSIX lock this process holds on it, and SQLite's connections in this process
    (a server, and a command or test beside it) hold theirs on the database."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass


def tighten(path: Path) -> bool:
    """Take group and others' permissions off `path` (not following a link); whether it
    had any. A path that does not exist has none. A sticky directory is left alone: it is
    one meant for everyone (``/tmp``, named as a data directory by mistake), which no
    server may close to others."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return False
    mode = stat.S_IMODE(status.st_mode)
    if stat.S_ISLNK(status.st_mode) or mode & stat.S_ISVTX or not mode & _SHARED_BITS:
        return False
    os.chmod(path, mode & ~_SHARED_BITS)
    return True
