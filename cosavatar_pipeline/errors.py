"""Errors a user can act on: each names the file (or registry entry) and the problem."""

from __future__ import annotations

from pathlib import Path


class CosavatarError(Exception):
    """Base class for errors the pipeline reports to users without a library traceback."""


class InputError(CosavatarError):
    """A user-supplied file or value is unusable: the message names it and says why."""

    def __init__(self, subject: str | Path, problem: str):
        self.subject = str(subject)
        self.problem = problem
        super().__init__(f"{self.subject}: {problem}")


class RegistryError(CosavatarError):
    """A registration clashes with, or is missing from, the registry."""


class SettingError(CosavatarError, ValueError):
    """An environment setting is unusable: the message names the variable, its value and what it must be."""


def require_file(path: Path) -> None:
    """Raise an InputError naming ``path`` unless it is a regular, non-empty file."""
    if not path.exists():
        raise InputError(path, "does not exist")
    if not path.is_file():
        raise InputError(path, "is not a file")
    if path.stat().st_size == 0:
        raise InputError(path, "is empty (0 bytes)")
