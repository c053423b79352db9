"""The Dagster instance's ``dagster.yaml``: the repository's file, with what the environment selects.

- ``DAGSTER_POSTGRES_URL`` (``postgresql+psycopg2://user:password@host:5432/db``) set: run, event-log and schedule
  storage on PostgreSQL (``dagster-postgres``); the URL stays in the environment (the file says ``{env:
  DAGSTER_POSTGRES_URL}``), so no password is written to disk.
  Unset: sqlite files inside ``DAGSTER_HOME``, as before.
- ``COSAVATAR_GPU_SLOTS``: how many GPU steps may run at once across all runs (the ``gpu`` pool); one per GPU worker.
- ``COSAVATAR_MAX_CONCURRENT_RUNS``: how many runs the queue starts at once.

A ``dagster.yaml`` in ``DAGSTER_HOME`` that this module did not write (no marker line) is the user's and is left as
it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from cosavatar_pipeline.atomic import atomic_file
from cosavatar_pipeline.errors import SettingError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BASE_CONFIG = PROJECT_ROOT / "dagster.yaml"
MARKER = "# Written by cosavatar from the repository's dagster.yaml and the environment; edits here are replaced."
POSTGRES_URL_ENV = "DAGSTER_POSTGRES_URL"
POSTGRES_SCHEME = "postgresql+psycopg2"
GPU_SLOTS_ENV = "COSAVATAR_GPU_SLOTS"
MAX_RUNS_ENV = "COSAVATAR_MAX_CONCURRENT_RUNS"


def _positive_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise SettingError(f"{name}={value!r}: expected a whole number >= 1")
    return int(value)


def instance_settings(environ: Mapping[str, str] | None = None) -> dict:
    environ = os.environ if environ is None else environ
    settings = yaml.safe_load(BASE_CONFIG.read_text())
    if url := environ.get(POSTGRES_URL_ENV):
        scheme = url.split("://", 1)[0]
        if scheme != POSTGRES_SCHEME:
            raise SettingError(
                f"{POSTGRES_URL_ENV} must start with {POSTGRES_SCHEME}:// (got {scheme}://): dagster-postgres is built "
                f"on psycopg2, and SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not installed"
            )
        settings["storage"] = {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
    if (slots := _positive_int(environ, GPU_SLOTS_ENV)) is not None:
        settings["concurrency"]["pools"]["default_limit"] = slots
    if (runs := _positive_int(environ, MAX_RUNS_ENV)) is not None:
        settings["concurrency"]["runs"]["max_concurrent_runs"] = runs
    return settings


def write_instance_config(dagster_home: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Write ``<dagster_home>/dagster.yaml`` unless it is the user's own; returns its path."""
    environ = os.environ if environ is None else environ
    config = Path(dagster_home) / "dagster.yaml"
    existing = config.read_text() if config.exists() else None
    if existing is not None and not existing.startswith(MARKER):
        own = yaml.safe_load(existing) or {}
        if environ.get(POSTGRES_URL_ENV) and "postgres" not in str(own.get("storage") or own.get("run_storage") or ""):
            raise SettingError(
                f"{POSTGRES_URL_ENV} is set, but {config} (not written by cosavatar) keeps the instance in sqlite: "
                f"delete it to have cosavatar write one, or give it a postgres storage section"
            )
        return config
    with atomic_file(config, "w") as handle:
        handle.write(MARKER + "\n" + yaml.safe_dump(instance_settings(environ), sort_keys=False))
    return config
