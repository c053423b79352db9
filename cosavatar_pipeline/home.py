"""Where the project keeps its data: one root folder, ``COSAVATAR_HOME`` (default ``.cosavatar/``).

On several machines the root must be one shared POSIX filesystem (NFS, CephFS, EFS, Filestore, or an object store
mounted by a FUSE driver that supports rename): partitions are committed by renaming a staged folder, so a plain
object-store URI cannot be the root. MLflow artifacts can live anywhere MLflow can write (``s3://``, ``gs://``, a
tracking server's ``mlflow-artifacts:``), set by ``COSAVATAR_MLFLOW_ARTIFACTS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from cosavatar_pipeline.errors import SettingError

DEFAULT_HOME = ".cosavatar"
HOME_ENV = "COSAVATAR_HOME"
MLFLOW_ARTIFACTS_ENV = "COSAVATAR_MLFLOW_ARTIFACTS"


def path_from_uri(value: str) -> Path:
    """A local path or a ``file://`` URI as a path; any other scheme is refused with what to do instead."""
    parsed = urlparse(value)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise SettingError(
                f"{HOME_ENV}={value!r}: a file URI names a path on this machine (file:///shared/cosavatar)"
            )
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise SettingError(
            f"{HOME_ENV}={value!r}: the store must be a shared filesystem path (NFS, or an object store mounted with a "
            f"FUSE driver); {parsed.scheme}:// is not a filesystem. MLflow artifacts may use it: set "
            f"{MLFLOW_ARTIFACTS_ENV}."
        )
    return Path(value)


def cosavatar_home() -> Path:
    return path_from_uri(os.environ.get(HOME_ENV, DEFAULT_HOME)).expanduser().resolve()


@dataclass(frozen=True)
class HomeLayout:
    """The folder layout under the home root; the single place that names these paths."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def checkpoints(self) -> Path:
        """Scratch checkpoints of training steps, kept until their asset is stored (a rerun resumes from them)."""
        return self.root / "checkpoints"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def mlflow_tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> str | None:
        """Where new experiments keep artifacts: ``COSAVATAR_MLFLOW_ARTIFACTS`` (any URI MLflow writes to); else
        the tracking server's own choice when tracking is remote (it may proxy uploads), else ``<home>/mlartifacts``."""
        if os.environ.get(MLFLOW_ARTIFACTS_ENV):
            return os.environ[MLFLOW_ARTIFACTS_ENV]
        if urlparse(self.mlflow_tracking_uri).scheme in ("http", "https", "databricks"):
            return None
        return (self.root / "mlartifacts").as_uri()


def layout(root: Path | None = None) -> HomeLayout:
    return HomeLayout(Path(root).resolve() if root else cosavatar_home())
