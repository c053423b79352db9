"""MLflow tracking as a Dagster resource: one MLflow run per (asset, partition) materialization."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from cosavatar_pipeline.home import layout
from cosavatar_pipeline.tracking import TrackedRun, Tracker

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"


class MlflowTracking(dg.ConfigurableResource):
    """Empty ``tracking_uri`` means ``MLFLOW_TRACKING_URI`` or ``sqlite:///<COSAVATAR_HOME>/mlflow.db``; empty
    ``ui_url`` (where the MLflow UI serves, for the links in asset metadata) means ``COSAVATAR_MLFLOW_UI`` or
    ``DEFAULT_MLFLOW_UI`` (what `make ui` starts)."""

    tracking_uri: str = ""
    home: str = ""
    experiment: str = "cosavatar"
    ui_url: str = ""

    def tracker(self) -> Tracker:
        home = layout(Path(self.home) if self.home else None)
        ui_url = self.ui_url or os.environ.get("COSAVATAR_MLFLOW_UI") or DEFAULT_MLFLOW_UI
        return Tracker(
            self.tracking_uri or home.mlflow_tracking_uri, home.mlflow_artifact_root, self.experiment, ui_url
        )

    @contextmanager
    def run(self, context: dg.AssetExecutionContext) -> Iterator[TrackedRun]:
        asset = context.asset_key.to_user_string()
        with self.tracker().run(asset, str(context.partition_key), tags={"dagster.run_id": context.run.run_id}) as run:
            yield run


def mlflow_metadata(run: TrackedRun) -> dict:
    return {"mlflow_run_id": run.run_id, "mlflow_run": dg.MetadataValue.url(run.link)}
