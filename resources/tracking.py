"""MLflow tracking as a Dagster resource: one MLflow run per (asset, partition) materialization."""


from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from cosavatar_pipeline.home import layout
from cosavatar_pipeline.tracking import TrackedRun, Tracker


class MlflowTracking(dg.ConfigurableResource):
    """Empty ``tracking_uri`` means ``MLFLOW_TRACKING_URI`` or ``sqlite:///<COSAVATAR_HOME>/mlflow.db``."""

    tracking_uri: str = ""
    home: str = ""
    experiment: str = "cosavatar"
    ui_url: str = "http://127.0.0.1:5000"

    def tracker(self) -> Tracker:
        home = layout(Path(self.home) if self.home else None)
        return Tracker(self.tracking_uri or home.mlflow_tracking_uri, home.mlflow_artifacts, self.experiment, self.ui_url)

    @contextmanager
    def run(self, context: dg.AssetExecutionContext) -> Iterator[TrackedRun]:
        asset = context.asset_key.to_user_string()
        with self.tracker().run(asset, str(context.partition_key), tags={"dagster.run_id": context.run.run_id}) as run:
            yield run


def mlflow_metadata(run: TrackedRun) -> dict:
    return {"mlflow_run_id": run.run_id, "mlflow_run": dg.MetadataValue.url(run.link)}
