"""Atomic writes: readers see the old output or the new one, never a half-written one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from cosavatar_pipeline.errors import CosavatarError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _ordinary_permissions(path: Path, directory: bool) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; outputs get the usual umask-based permissions."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


class FolderBusy(CosavatarError):
    """Another live process is writing the same output folder."""


@contextmanager
def exclusive_lock(lock_path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created when absent). The kernel drops the lock of a process that
    dies, so a killed holder never blocks the next. ``wait=False``: BlockingIOError at once if another holds it."""
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def writer_lock(final_dir: Path) -> Iterator[None]:
    """Hold ``final_dir``'s lock (``.<name>.lock`` beside it) or fail at once with FolderBusy: one writer per
    output folder."""
    with ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(final_dir.parent / f".{final_dir.name}.lock", wait=False))
        except BlockingIOError:
            raise FolderBusy(
                f"{final_dir}: another run is writing this output right now; wait for it to finish (or stop it) and "
                "run again"
            ) from None
        yield


@contextmanager
def atomic_directory(final_dir: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``final_dir`` in one rename.

    On an exception the staging folder is removed and ``final_dir`` (an earlier output) is left as it was. The
    folder's writer lock is held throughout (FolderBusy for a second writer)."""
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(final_dir):
        yield from _staged(final_dir)


def recover_interrupted_commit(final_dir: Path) -> bool:
    """A writer killed between the commit's two renames left ``final_dir`` missing and its previous output in a
    ``.retired-*`` folder: put that back (unless a live writer holds the folder). True if something was restored."""
    final_dir = Path(final_dir)
    if final_dir.exists() or not final_dir.parent.exists():
        return False
    try:
        with writer_lock(final_dir):
            return _restore_retired(final_dir)
    except FolderBusy:
        return False


def _restore_retired(final_dir: Path) -> bool:
    if final_dir.exists():
        return False
    for retired in sorted(final_dir.parent.glob(f".{final_dir.name}.retired-*")):
        if (retired / "old").is_dir():
            os.rename(retired / "old", final_dir)
            _fsync_directory(final_dir.parent)
            return True
    return False


def _fsync_directory(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a crash after the call cannot undo them)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _staged(final_dir: Path) -> Iterator[Path]:
    # leftovers of a writer that was killed (no exception handler ran): with the lock held, no live writer owns one
    _restore_retired(final_dir)
    for stale in [
        *final_dir.parent.glob(f".{final_dir.name}.staging-*"),
        *final_dir.parent.glob(f".{final_dir.name}.retired-*"),
    ]:
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.staging-", dir=final_dir.parent))
    _ordinary_permissions(staging, directory=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = None
    if final_dir.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.retired-", dir=final_dir.parent))
        os.rename(final_dir, retired / "old")
    os.rename(staging, final_dir)  # killed before this line: recover_interrupted_commit puts the old output back
    _fsync_directory(final_dir.parent)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def atomic_file(path: Path, mode: str = "wb", private: bool = False) -> Iterator[Any]:
    """Open a temp file beside ``path``; it is renamed over ``path`` only when the block succeeds. ``private``
    keeps it readable by its owner only (0600): for files holding secrets."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if not private:
        _ordinary_permissions(Path(tmp_name), directory=False)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    with atomic_file(path, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)


def write_json_exclusive(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` whole and only if nothing is there yet: of two writers racing for one name, the second
    gets FileExistsError and the first's file stays (a hard link never replaces, unlike a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _ordinary_permissions(Path(tmp_name), directory=False)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links (some FUSE/SMB mounts): exclusive create instead
            with open(path, "x") as handle:
                handle.write(Path(tmp_name).read_text())
    finally:
        os.unlink(tmp_name)
