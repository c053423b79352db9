from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "videos"
TALKING_WOMAN = SHARED_VIDEOS / "talking_woman_bluebg.mp4"
DRIVING_MAN = SHARED_VIDEOS / "driving_man_expressions.mp4"

os.environ.setdefault("GLOG_minloglevel", "2")

# The avatar trains for minutes at its preset; tests train it explicitly, with few steps.
VIDEO_STAGES_BEFORE_AVATAR = [
    "source_video",
    "frames",
    "face_landmarks",
    "face_coefficients",
    "driving_motion",
    "face_parsing",
    "background_plate",
]


# `make test-fast` leaves out what needs the team's clips or an avatar trained beyond `tiny`: tests marked `slow`
# or `real_clips`, and every test that uses one of these fixtures (marked here, so no test can forget it).
REAL_CLIP_FIXTURES = {"real_clips", "trained_avatars", "backfilled_edit"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_CLIP_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_clips)


def shared_video(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test clip {path} is absent (the team's ../shared/videos folder is not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """One sqlite MLflow store for the session: a fresh store costs seconds of migrations."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def make_pipeline(root: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str):
    """A project home and a real persistent Dagster instance (sqlite) in a temp DAGSTER_HOME."""
    from cosavatar_pipeline.home import layout
    from cosavatar_pipeline.orchestration.operations import Pipeline

    monkeypatch.setenv("COSAVATAR_HOME", str(root / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    return Pipeline(home=layout(root / "home"))


@pytest.fixture
def pipeline(tmp_path, monkeypatch, mlflow_uri):
    pipeline = make_pipeline(tmp_path, monkeypatch, mlflow_uri)
    yield pipeline
    pipeline.instance.dispose()


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory):
    from tests.media import make_bad_inputs

    return make_bad_inputs(tmp_path_factory.mktemp("bad_inputs"))


@pytest.fixture(scope="session")
def sample_clips(tmp_path_factory):
    from cosavatar_pipeline.video.sample import make_sample_clips

    return make_sample_clips(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def tiny_sample(sample_clips, tmp_path_factory):
    """The sample clip through the stages before the avatar at `tiny`, with the library directly
    (``benchmarks/clips.py``): for tests of the NeRF and the edit loop that need no Dagster."""
    from benchmarks.clips import prepare_clip

    return prepare_clip(sample_clips["astronaut_talking"], tmp_path_factory.mktemp("prepared"), preset="tiny")


# The real clips run at `tiny` (96 px, 12.5 fps): every stage on real video at half the frames and a small NeRF, so
# `make test` stays within its time; `preview` runs on them in `make bench-expression` and on the sample in the demo.
REAL_CLIP_PRESET = "tiny"


@pytest.fixture(scope="session")
def short_sample_clips(tmp_path_factory):
    """The sample and its driver, 2.5 s each: the `dagster dev` days run every stage of both, twice over."""
    from cosavatar_pipeline.video.sample import make_sample_clips

    return make_sample_clips(tmp_path_factory.mktemp("short_samples"), seconds=2.5)


@pytest.fixture(scope="session")
def real_clips(tmp_path_factory, mlflow_uri):
    """Both real clips registered as `woman` and `man` and every video stage materialized once, at REAL_CLIP_PRESET."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        pipeline = make_pipeline(tmp_path_factory.mktemp("real_clips"), monkeypatch, mlflow_uri)
        for name, clip in (("woman", TALKING_WOMAN), ("man", DRIVING_MAN)):
            pipeline.add_video(shared_video(clip), name=name, preset=REAL_CLIP_PRESET)
            outcome = pipeline.materialize_video(name, select=VIDEO_STAGES_BEFORE_AVATAR)
            assert outcome.success, outcome.failures
        yield pipeline
        pipeline.instance.dispose()


WOMAN_AVATAR_STEPS, MAN_AVATAR_STEPS = 300, 150


@pytest.fixture(scope="session")
def trained_avatars(real_clips):
    """Avatars of both real clips after few steps: trained here unless an avatar of the same steps is stored (the
    resume test trains the man's with these steps too, so test order never changes what later tests see)."""
    for name, steps in (("woman", WOMAN_AVATAR_STEPS), ("man", MAN_AVATAR_STEPS)):
        if (
            name not in real_clips.materialized("avatar")
            or manifest_of(real_clips, "avatar", name).info["steps"] != steps
        ):
            outcome = real_clips.materialize_video(name, select=["avatar"], asset_config={"avatar": {"steps": steps}})
            assert outcome.success, outcome.failures
    return real_clips


def materialization_counts(instance, names: list[str]) -> dict[str, int]:
    """How many times each named asset was materialized, over all partitions."""
    import dagster as dg

    return {name: len(instance.fetch_materializations(dg.AssetKey(name), limit=1000).records) for name in names}


@pytest.fixture(scope="session")
def backfilled_edit(trained_avatars, tmp_path_factory):
    """`cosavatar materialize --edit backfilled` over both real clips in a separate process, as a user runs it:
    one round (the edit's `rounds`), tiny settings from a --config file, no IP2P weights; each clip is the
    other's reenactment driver. Returns (pipeline, the finished process, video-asset materialization counts before)."""
    import subprocess
    import sys

    pipeline = trained_avatars
    pipeline.add_edit("make the hair blue", name="backfilled", rounds=1)
    folder = tmp_path_factory.mktemp("backfill")
    config = folder / "tiny.yaml"
    config.write_text("edited_*_round_*: {finetune_steps: 10, evaluation_frames: 2}\n")
    before = materialization_counts(pipeline.instance, pipeline.video_asset_names())
    env = {**os.environ, "COSAVATAR_IP2P_MODEL": str(folder / "no_weights")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cosavatar_pipeline.cli import main; main()",
            "materialize",
            "--edit",
            "backfilled",
            "--config",
            str(config),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return pipeline, result, before


def latest_materialization(instance, asset: str, partition: str):
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def manifest_of(pipeline, asset: str, partition: str):
    import json

    from resources import Manifest

    return Manifest(**json.loads((pipeline.asset_folder(asset, partition) / "manifest.json").read_text()))
