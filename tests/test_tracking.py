"""The MLflow links in asset metadata point where the MLflow UI serves, as the code location configures it."""

import dagster as dg

from cosavatar_pipeline.orchestration.definitions import MLFLOW_UI_ENV, build_resources
from resources import StorageResource
from resources.tracking import DEFAULT_MLFLOW_UI, MlflowTracking, mlflow_metadata


def test_mlflow_links_follow_the_configured_ui(tmp_path, monkeypatch, mlflow_uri):
    storage = StorageResource(root=str(tmp_path))
    monkeypatch.delenv(MLFLOW_UI_ENV, raising=False)
    assert build_resources()["tracking"].ui_url == DEFAULT_MLFLOW_UI
    monkeypatch.setenv(MLFLOW_UI_ENV, "https://mlflow.example.org/")
    configured = build_resources()["tracking"]
    assert isinstance(configured.ui_url, dg.EnvVar)  # the web UI shows the variable as the value's source
    tracking = MlflowTracking(storage=storage, tracking_uri=mlflow_uri, ui_url=configured.ui_url.get_value())
    with tracking.tracker().run("avatar", "talk") as run:
        link = mlflow_metadata(run)["mlflow_run"].value
    assert link == f"https://mlflow.example.org/#/experiments/{run.experiment_id}/runs/{run.run_id}"
