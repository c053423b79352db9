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


OPEN_A_RUN = """
import sys
from cosavatar_pipeline.tracking import Tracker
with Tracker(sys.argv[1], None, "cosavatar", "http://ui").run("avatar", sys.argv[2]):
    pass
"""


def test_steps_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    """A fresh home's first runs: several steps create the same MLflow store at the same moment (without the lock
    the later ones failed with "table ... already exists")."""
    import subprocess
    import sys

    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    steps = [
        subprocess.Popen([sys.executable, "-c", OPEN_A_RUN, uri, f"video{i}"], stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    failures = [step.stderr.read()[-1500:] for step in steps if step.wait(300) != 0]
    assert not failures, failures[0]
    runs = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("cosavatar").experiment_id])
    assert sorted(run.data.tags["cosavatar.partition"] for run in runs) == [f"video{i}" for i in range(4)]
