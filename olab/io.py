"""Atomic writes: an artifact is either fully written or not there at all, and never lost to a race.

Files and directories are written under a temporary sibling name (`.<name>.<pid>.<random>.tmp`), synced
to disk, then renamed into place. Directory commits take a lock on the parent (`.olab-commit.lock`), so
two processes committing the same path never replace each other's work by accident: without
`overwrite` the second one gets `FileExistsError`; with it, a complete directory is swapped for another
complete one. A temporary left by a killed process (its pid is gone) is removed on the next write there.

Files and folders get the permissions any other program's would (0666/0777 less the umask), not the
owner-only ones of the temporary files they start as: a colleague on the machine can open a shared
`report.html`. Nothing olab writes holds a secret (keys stay in memory).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock

COMMIT_LOCK = ".olab-commit.lock"
_TEMP = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.(tmp|old)$")


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under `root` to disk (so a rename publishes durable content)."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _is_stale(entry: Path, pid: int) -> bool:
    """True when the process that made `entry` is gone (or its pid now belongs to a younger process)."""
    try:
        made = entry.lstat().st_mtime
        return psutil.Process(pid).create_time() > made + 1
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, OSError):
        return False


def clean_stale_temps(parent: str | Path) -> list[Path]:
    """Remove the temporaries (`.*.<pid>.*.tmp`, `.old`) in `parent` whose writing process no longer runs."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or not _is_stale(entry, int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def umasked(mode: int) -> int:
    """`mode` less the process's umask: what `open` or `mkdir` would give."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        os.fchmod(fd, umasked(0o666))  # mkstemp makes it owner-only
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def writable_dir(path: Path, field: str) -> None:
    """Make sure `path` is a directory olab can write in, or raise a ConfigError naming the config `field`."""
    from olab.errors import ConfigError

    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        raise ConfigError(
            f"{field}: cannot write to {path} ({e.strerror or e}); choose a directory you can create files in"
        ) from None


def commit_lock(parent: str | Path) -> FileLock:
    """The lock every directory commit in `parent` holds while it checks and renames."""
    return FileLock(Path(parent) / COMMIT_LOCK)


@contextmanager
def atomic_dir(path: str | Path, overwrite: bool | Callable[[Path], bool] = False) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success sync it and rename it to `path`.

    On any exception the temporary directory is removed and `path` is left as it was. If `path` exists
    at commit time (checked under the parent's commit lock, so no other process commits in between):
    without `overwrite` FileExistsError is raised; with `overwrite=True`, or a callable that returns True
    for the existing directory, it is replaced by the new one, complete for complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    clean_stale_temps(path.parent)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp"))
    try:
        tmp.chmod(umasked(0o777))  # mkdtemp makes it owner-only
        yield tmp
        _fsync_tree(tmp)
        with commit_lock(path.parent):
            if not path.exists():
                os.rename(tmp, path)
            elif overwrite is True or (callable(overwrite) and overwrite(path)):
                old = path.with_name(f"{_temp_prefix(path)}{uuid.uuid4().hex[:12]}.old")
                os.rename(path, old)
                os.rename(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                raise FileExistsError(f"{path} was committed by another process meanwhile; refusing to overwrite it")
            _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
