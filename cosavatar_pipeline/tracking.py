"""MLflow run handle: params, per-step metrics and preview artifacts for one (asset, partition) run.

Uses an explicit ``MlflowClient`` (never mlflow's global tracking URI), so several stores can coexist in one
process (tests) and nothing depends on the working directory.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from cosavatar_pipeline.atomic import exclusive_lock
from cosavatar_pipeline.preview import save_png


class TrackedRun:
    def __init__(self, client, run_id: str, experiment_id: str, ui_url: str):
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.ui_url = ui_url.rstrip("/")

    @property
    def link(self) -> str:
        return f"{self.ui_url}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(key, str(value)[:6000]) for key, value in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        items = [Metric(key, float(value), timestamp, step or 0) for key, value in metrics.items()]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def log_image(self, image: np.ndarray, file_name: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            self.log_artifact(save_png(Path(scratch) / file_name, image))

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_dir)


@contextmanager
def _store_creation_lock(tracking_uri: str) -> Iterator[None]:
    """For a sqlite store, one process at a time (``<db>.lock`` beside it): two steps opening a store that does not
    exist yet would both create its tables, and the second fails with "table ... already exists". Other stores
    (a tracking server, a database server) handle their own concurrency."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        yield
        return
    database = Path(tracking_uri[len(prefix) :].split("?")[0])
    database.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(database.with_name(database.name + ".lock")):
        yield


class Tracker:
    """Opens one MLflow run per (asset, partition) materialization in one experiment."""

    def __init__(self, tracking_uri: str, artifact_root: str | None, experiment: str, ui_url: str):
        """``artifact_root``: a URI under which a new experiment keeps its artifacts; None lets the tracking server
        choose (with ``--serve-artifacts``, clients upload through it)."""
        from mlflow import MlflowClient

        with _store_creation_lock(tracking_uri):
            self.client = MlflowClient(tracking_uri=tracking_uri)
            self.client.search_experiments(max_results=1)  # a new store's tables are created by here
        self.artifact_root = artifact_root
        self.experiment = experiment
        self.ui_url = ui_url

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(
                self.experiment,
                artifact_location=f"{self.artifact_root.rstrip('/')}/{self.experiment}" if self.artifact_root else None,
            )
        except MlflowException:  # created meanwhile by a concurrent step
            return self.client.get_experiment_by_name(self.experiment).experiment_id

    @contextmanager
    def run(self, asset: str, partition: str, tags: Mapping[str, str] | None = None) -> Iterator[TrackedRun]:
        experiment_id = self._experiment_id()
        run = self.client.create_run(
            experiment_id,
            run_name=f"{asset}[{partition}]",
            tags={"cosavatar.asset": asset, "cosavatar.partition": partition, **(tags or {})},
        )
        handle = TrackedRun(self.client, run.info.run_id, experiment_id, self.ui_url)
        try:
            yield handle
        except BaseException:
            self.client.set_terminated(run.info.run_id, status="FAILED")
            raise
        self.client.set_terminated(run.info.run_id, status="FINISHED")
