"""MLflow tracking as a Dagster resource: one MLflow run per (asset, partition) materialization."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from cosavatar_pipeline.tracking import TrackedRun, Tracker
from resources.storage import StorageResource

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"  # what `make ui` starts


class MlflowTracking(dg.ConfigurableResource):
    """Empty ``tracking_uri`` means the home's store (``HomeLayout.mlflow_tracking_uri``); ``ui_url`` is where the
    MLflow UI serves, for the links in asset metadata. The code location sets both from the environment
    (``MLFLOW_TRACKING_URI``, ``COSAVATAR_MLFLOW_UI``) when it names them."""

    storage: dg.ResourceDependency[StorageResource]
    tracking_uri: str = ""
    experiment: str = "cosavatar"
    ui_url: str = DEFAULT_MLFLOW_UI

    def tracker(self) -> Tracker:
        home = self.storage.home
        return Tracker(
            self.tracking_uri or home.mlflow_tracking_uri, home.mlflow_artifact_root, self.experiment, self.ui_url
        )

    @contextmanager
    def run(self, context: dg.AssetExecutionContext) -> Iterator[TrackedRun]:
        asset = context.asset_key.to_user_string()
        with self.tracker().run(asset, str(context.partition_key), tags={"dagster.run_id": context.run.run_id}) as run:
            yield run


def mlflow_metadata(run: TrackedRun) -> dict:
    return {"mlflow_run_id": run.run_id, "mlflow_run": dg.MetadataValue.url(run.link)}
