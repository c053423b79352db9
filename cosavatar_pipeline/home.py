"""Where the project keeps its data: one root folder, ``COSAVATAR_HOME`` (default ``.cosavatar/``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".cosavatar"


def cosavatar_home() -> Path:
    return Path(os.environ.get("COSAVATAR_HOME", DEFAULT_HOME)).expanduser().resolve()


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
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def mlflow_tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.root / "mlartifacts"


def layout(root: Path | None = None) -> HomeLayout:
    return HomeLayout(Path(root).resolve() if root else cosavatar_home())
