"""The MLflow links in asset metadata point where the MLflow UI serves."""

from resources.tracking import DEFAULT_MLFLOW_UI, MlflowTracking, mlflow_metadata


def test_mlflow_links_follow_the_configured_ui(tmp_path, monkeypatch, mlflow_uri):
    monkeypatch.delenv("COSAVATAR_MLFLOW_UI", raising=False)
    tracking = MlflowTracking(tracking_uri=mlflow_uri, home=str(tmp_path))
    assert tracking.tracker().ui_url == DEFAULT_MLFLOW_UI
    monkeypatch.setenv("COSAVATAR_MLFLOW_UI", "https://mlflow.example.org/")
    with tracking.tracker().run("avatar", "talk") as run:
        link = mlflow_metadata(run)["mlflow_run"].value
    assert link == f"https://mlflow.example.org/#/experiments/{run.experiment_id}/runs/{run.run_id}"
    assert (
        MlflowTracking(tracking_uri=mlflow_uri, home=str(tmp_path), ui_url="http://ui:5000").tracker().ui_url
        == "http://ui:5000"
    )
