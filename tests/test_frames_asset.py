"""source_video and frames materialized through a real Dagster instance (temp DAGSTER_HOME) and MLflow store."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from cosavatar_pipeline.stages.frames import load_frames
from tests.conftest import TALKING_WOMAN, shared_video

INGEST = ["source_video", "frames"]


@pytest.mark.real_clips
def test_talking_woman_frames(pipeline, mlflow_uri):
    clip = shared_video(TALKING_WOMAN)
    pipeline.add_video(clip, name="talking_woman")
    outcome = pipeline.materialize_video("talking_woman", select=INGEST)
    assert outcome.success, outcome.failures

    # frame count: source duration (199 frames at 30 fps = 6.633 s) x 25 fps
    source = json.loads((pipeline.asset_folder("source_video", "talking_woman") / "manifest.json").read_text())
    assert source["info"]["frame_count"] == 199 and abs(source["info"]["duration_s"] - 199 / 30) < 1e-3
    folder = pipeline.asset_folder("frames", "talking_woman")
    frames = load_frames(folder)
    expected = int(np.floor(source["info"]["duration_s"] * 25 + 1e-3))
    assert expected == 165
    assert frames.shape == (expected, 128, 128, 3) and frames.dtype == np.uint8
    table = pd.read_parquet(folder / "timestamps.parquet")
    assert len(table) == expected and table["source_frame_index"].is_monotonic_increasing
    assert table["source_frame_index"].iloc[-1] == 196  # t = 6.56 s lies in source frame 196 = [6.533, 6.567)

    # what the web UI shows: metadata with MLflow link and preview, a passing check
    instance = pipeline.instance
    event = instance.get_latest_materialization_event(dg.AssetKey("frames"))
    metadata = event.asset_materialization.metadata
    assert metadata["frame_count"].value == expected
    assert metadata["mlflow_run"].value.startswith("http://127.0.0.1:5000/#/experiments/")
    assert "data:image/png;base64," in metadata["contact_sheet"].value
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("frames"), "frames_cover_source_duration")]
    )
    assert check[dg.AssetCheckKey(dg.AssetKey("frames"), "frames_cover_source_duration")].status.value == "SUCCEEDED"

    # the MLflow run of this asset partition: params, metrics, the contact sheet artifact
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(metadata["mlflow_run_id"].value)
    assert run.data.tags["cosavatar.asset"] == "frames" and run.data.tags["cosavatar.partition"] == "talking_woman"
    assert run.info.status == "FINISHED"
    assert run.data.params["resolution"] == "128" and run.data.metrics["frame_count"] == expected
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["contact_sheet.png"]
    source_run = client.get_run(
        instance.get_latest_materialization_event(dg.AssetKey("source_video"))
        .asset_materialization.metadata["mlflow_run_id"]
        .value
    )
    assert source_run.data.params["sha256"] == "414be3ad61f09432adfbc4933e0163539e94f74fc445c2b9114f8c64e38a480e"

    # a second materialization replaces the output in place and opens a new MLflow run
    assert pipeline.materialize_video("talking_woman", select=["frames"]).success
    assert sorted(p.name for p in folder.parent.iterdir() if not p.name.endswith(".lock")) == ["talking_woman"]
    runs = client.search_runs(
        [run.info.experiment_id],
        filter_string="tags.`cosavatar.partition` = 'talking_woman' and tags.`cosavatar.asset` = 'frames'",
    )
    assert len(runs) == 2
