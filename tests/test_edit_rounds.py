"""Edit rounds on real data at a tiny size, through Dagster: dataset update, fine-tuning, figures, lineage."""

import numpy as np
import pytest

from cosavatar_pipeline.editing.regions import dilate
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.presets import get_preset
from tests.conftest import REAL_CLIP_PRESET, latest_materialization, manifest_of, materialization_counts

ROUND_ASSETS = ["edited_dataset_round_1", "edited_avatar_round_1", "edited_dataset_round_2", "edited_avatar_round_2"]
TINY = {"finetune_steps": 60, "evaluation_frames": 6, "checkpoint_every": 20}


@pytest.fixture
def no_ip2p_weights(monkeypatch, tmp_path):
    """No InstructPix2Pix weights anywhere, whatever this machine caches: an empty HF cache (read when the editor is
    chosen) and, for a code location loaded after this point, a model folder that does not exist."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    monkeypatch.setenv("COSAVATAR_IP2P_MODEL", str(tmp_path / "no_weights_here"))


def test_two_rounds_of_pink_hair_on_real_data(trained_avatars, no_ip2p_weights):
    pipeline = trained_avatars
    spec = pipeline.add_edit("give her pink hair", name="pink_hair_rounds")
    assert spec.region == "hair" and spec.editor == "auto"
    before = materialization_counts(pipeline.instance, pipeline.video_asset_names())
    outcome = pipeline.materialize_edit(
        "pink_hair_rounds", "woman", select=ROUND_ASSETS, asset_config={name: TINY for name in ROUND_ASSETS}
    )
    assert outcome.success, outcome.failures
    assert (
        materialization_counts(pipeline.instance, pipeline.video_asset_names()) == before
    )  # the video's stages are read, never recomputed

    key = "pink_hair_rounds|woman"
    first = manifest_of(pipeline, "edited_dataset_round_1", key)
    assert first.info["editor"] == "procedural" and "auto fell back" in first.info["editor_reason"]
    # the targets are pink inside the hair and (almost) the original frame elsewhere
    assert first.info["target_change_inside"] > 25
    assert first.info["target_change_outside"] < 2.0
    assert first.info["target_change_beyond_feather"] < 0.5
    folder = pipeline.asset_folder("edited_dataset_round_1", key)
    targets, regions = np.load(folder / "targets.npy"), np.load(folder / "regions.npy").astype(bool)
    frames = np.load(manifest_of(pipeline, "frames", "woman").path("frames.npy"))
    ids = np.load(folder / "frame_ids.npy")
    assert len(ids) == len(targets) == first.info["frames_edited"] and len(ids) < len(frames)  # training frames only
    far = ~dilate(regions, 5)
    assert np.abs(targets.astype(int) - frames[ids])[far].max() == 0  # untouched away from the region
    import cv2

    hue = np.stack([cv2.cvtColor(t, cv2.COLOR_RGB2HSV) for t in targets])[..., 0][regions]
    assert np.median(hue) > 140  # pink / magenta on OpenCV's 0-180 hue scale

    for k in (1, 2):
        avatar = manifest_of(pipeline, f"edited_avatar_round_{k}", key).info
        assert avatar["steps"] == 60
        assert avatar["render_change_inside"] > 15  # the avatar learned the edit ...
        assert avatar["leakage_outside"] < 3.0  # ... and barely changed elsewhere
        assert avatar["psnr_vs_targets"] > 20
    second_dataset = manifest_of(pipeline, "edited_dataset_round_2", key).info
    # round 2 starts from the round-1 avatar, which already shows pink hair
    renders = np.load(pipeline.asset_folder("edited_dataset_round_2", key) / "renders.npy")
    frame_hue = np.stack([cv2.cvtColor(r, cv2.COLOR_RGB2HSV) for r in renders])[..., 0][
        np.load(pipeline.asset_folder("edited_dataset_round_2", key) / "regions.npy").astype(bool)
    ]
    assert np.median(frame_hue) > 140
    assert second_dataset["target_change_outside"] < 2.0

    # lineage and tracking: the round-2 avatar's metadata links its MLflow run with per-step loss
    import os

    from mlflow import MlflowClient

    materialization = latest_materialization(pipeline.instance, "edited_avatar_round_2", key)
    run_id = materialization.metadata["mlflow_run_id"].value
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    every = get_preset(REAL_CLIP_PRESET).nerf.log_every  # and at the last step
    assert len(client.get_metric_history(run_id, "psnr")) == 60 // every + (60 % every != 0)
    params = client.get_run(run_id).data.params
    assert params["editor"] == "procedural" and params["prompt"] == "give her pink hair" and params["round"] == "2"


def test_edit_checks_fail_before_any_work(trained_avatars, no_ip2p_weights):
    pipeline = trained_avatars
    pipeline.add_edit("make her look like a cyborg", name="cyborg", editor="procedural")
    with pytest.raises(InputError, match=r"edit 'cyborg'.*does not support it.*colours: .*pink"):
        pipeline.check_edit("cyborg", "woman")
    pipeline.add_edit("give her pink hair", name="pink_hair_ip2p", editor="ip2p")
    from cosavatar_pipeline.editing.ip2p import EditorUnavailable

    with pytest.raises(EditorUnavailable, match=r"InstructPix2Pix weights not found: looked for '.*no_weights_here'"):
        pipeline.check_edit("pink_hair_ip2p", "woman")
    # the same check inside the Dagster step (a launch from the web UI skips the CLI's): one line, nothing stored
    import dagster as dg

    from cosavatar_pipeline.orchestration.definitions import defs

    outcome = pipeline._execute(
        defs.resolve_job_def("apply_edit"),
        dg.MultiPartitionKey({"edit": "cyborg", "video": "woman"}),
        ROUND_ASSETS[:1],
        None,
    )
    assert not outcome.success
    assert len(outcome.failures) == 1 and outcome.failures[0].startswith("edited_dataset_round_1: edit 'cyborg'")
    assert "does not support it" in outcome.failures[0]
    assert not pipeline.asset_folder("edited_dataset_round_1", "cyborg|woman").exists()


def test_a_region_the_video_lacks_is_refused(trained_avatars):
    from cosavatar_pipeline.editing.regions import check_region_present
    from cosavatar_pipeline.parsing import labels as L

    labels = np.array(np.load(manifest_of(trained_avatars, "face_parsing", "woman").path("labels.npy")))
    assert check_region_present(labels, "hair", "video 'woman'") == 1.0
    labels[labels == L.HAIR] = L.SKIN  # as parsed on a bald subject
    with pytest.raises(InputError, match=r"video 'bald': has no 'hair' region to edit: .* in only 0% of the frames"):
        check_region_present(labels, "hair", "video 'bald'")


def test_backfilling_an_edit_over_every_video_runs_only_edit_stages(backfilled_edit):
    """`cosavatar materialize --edit` over all registered videos, as a user runs it (see the fixture)."""
    pipeline, result, before = backfilled_edit
    assert (
        "applying edit 'backfilled' to video 'man'" in result.stdout
        and "applying edit 'backfilled' to video 'woman'" in result.stdout
    )
    assert "[procedural] psnr_vs_targets" in result.stdout
    for video in ("man", "woman"):
        assert f"backfilled|{video}" in pipeline.materialized("edited_avatar_round_1")
        assert f"backfilled|{video}" in pipeline.materialized("final_render")
    # the edit runs one of the graph's three rounds: the later ones edit nothing and pass round 1's avatar on
    first, last = (manifest_of(pipeline, f"edited_avatar_round_{k}", "backfilled|woman") for k in (1, 3))
    assert last.files == first.files and last.info["passed_on_from"] == "edited_avatar_round_2"
    assert last.info["psnr_vs_targets"] == first.info["psnr_vs_targets"]
    skipped = manifest_of(pipeline, "edited_dataset_round_2", "backfilled|woman")
    assert skipped.files == {} and skipped.info["skipped"] and skipped.info["edit_rounds"] == 1
    assert "round 2 edits nothing" in result.stdout + result.stderr  # the step log says so
    # the instance's event log: not one video-partitioned asset was materialized by the backfill
    assert materialization_counts(pipeline.instance, pipeline.video_asset_names()) == before


def test_an_edit_partition_added_in_the_web_ui_is_refused_with_how_to_register_it(trained_avatars, no_ip2p_weights):
    """The backfill dialog can add an `edit` partition key without any prompt: the run's first step fails at once,
    naming the key and the command that registers it; nothing is stored."""
    import dagster as dg

    from cosavatar_pipeline.orchestration.definitions import defs

    pipeline = trained_avatars
    pipeline.instance.add_dynamic_partitions("edit", ["typed_in_the_ui"])
    outcome = pipeline._execute(
        defs.resolve_job_def("apply_edit"),
        dg.MultiPartitionKey({"edit": "typed_in_the_ui", "video": "woman"}),
        ROUND_ASSETS[:1],
        None,
    )
    assert not outcome.success and len(outcome.failures) == 1
    assert outcome.failures[0].startswith(
        "edited_dataset_round_1: edit partition 'typed_in_the_ui' has no registered edit spec"
    )
    assert 'cosavatar add-edit "<prompt>" --name typed_in_the_ui' in outcome.failures[0]
    assert not pipeline.asset_folder("edited_dataset_round_1", "typed_in_the_ui|woman").exists()
    pipeline.instance.delete_dynamic_partition("edit", "typed_in_the_ui")
