"""Renders: mp4 sets that decode with the right frame count, fps, size and audio; consistency figures computed on
real frames."""

import av
import numpy as np
import pytest

from cosavatar_pipeline.render.consistency import consecutive_pairs, source_flow, warping_error
from tests.conftest import manifest_of


def probe(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        has_audio = bool(container.streams.audio)
        return len(frames), float(video.average_rate), frames[0].shape, has_audio


def test_warping_error_orders_flickering_above_steady(real_clips):
    frames = np.load(manifest_of(real_clips, "frames", "woman").path("frames.npy"))[:24]
    flow = source_flow(frames)
    assert flow.valid_fraction > 0.8  # a talking head: little is occluded between frames
    flicker = np.array(frames, np.int16)
    flicker[1::2] += 25  # every other frame brighter: what per-frame edits that disagree look like
    flickering = flicker.clip(0, 255).astype(np.uint8)
    steady, unsteady = warping_error(frames, flow), warping_error(flickering, flow)
    assert steady < 5 and unsteady > steady + 15
    # a still image does not follow the source's motion: worse than the source, better than flicker
    still = np.repeat(frames[:1], len(frames), axis=0)
    assert steady < warping_error(still, flow) < unsteady
    assert consecutive_pairs(np.array([0, 1, 2, 4, 5, 7])).tolist() == [0, 1, 4]


def test_reconstruction_render_mp4s(trained_avatars):
    pipeline = trained_avatars
    outcome = pipeline.materialize_video("man", select=["reconstruction_render"])
    assert outcome.success, outcome.failures
    manifest = manifest_of(pipeline, "reconstruction_render", "man")
    frame_count = np.load(manifest_of(pipeline, "frames", "man").path("frames.npy"), mmap_mode="r").shape[0]
    assert probe(manifest.path("reconstruction.mp4")) == (frame_count, 25.0, (128, 128, 3), True)  # the clip's AAC audio
    assert probe(manifest.path("side_by_side.mp4"))[:3] == (frame_count, 25.0, (128, 256, 3))
    assert manifest.info["psnr_vs_source"] > 20 and manifest.info["psnr_vs_source_holdout"] > 18


def test_final_and_reenacted_renders_of_a_backfilled_edit(backfilled_edit):
    pipeline, _, _ = backfilled_edit
    frame_counts = {v: np.load(manifest_of(pipeline, "frames", v).path("frames.npy"), mmap_mode="r").shape[0] for v in ("woman", "man")}
    final = manifest_of(pipeline, "final_render", "backfilled|woman")
    assert probe(final.path("final.mp4")) == (frame_counts["woman"], 25.0, (128, 128, 3), True)
    assert probe(final.path("side_by_side.mp4"))[:3] == (frame_counts["woman"], 25.0, (128, 256, 3))
    info = final.info
    assert info["warping_error_raw_edits"] > 0 and info["warping_error_final"] > 0
    assert info["warping_error_ratio"] == pytest.approx(info["warping_error_final"] / info["warping_error_raw_edits"])
    assert info["psnr_outside_region_vs_source"] > 18
    # the woman driven by the man (the first other registered video): his frame count, his audio
    reenacted = manifest_of(pipeline, "reenacted_render", "backfilled|woman")
    assert reenacted.info["driver"] == "man"
    assert probe(reenacted.path("reenacted.mp4")) == (frame_counts["man"], 25.0, (128, 128, 3), True)
    assert reenacted.info["reenacted_tracked_ratio"] > 0.9
    # measured on the rendered frames (how good the transfer is at this tiny training budget is in the README)
    assert 0 < reenacted.info["expression_transfer_error_pct"] < 3 * reenacted.info["no_motion_error_pct"]
    assert 0 < reenacted.info["identity_drift_pct"] < 10


def test_expression_transfer_error_is_small_for_the_driver_itself(real_clips):
    """The metric on ground truth: the driver's own frames show its own motion exactly, so the re-detected
    displacements match (within landmark noise) and score far below showing no expression."""
    from assets.face_coefficients import load_face_model
    from cosavatar_pipeline.face.motion import DrivingMotion
    from cosavatar_pipeline.render.reenactment import reenactment_figures

    frames = np.load(manifest_of(real_clips, "frames", "man").path("frames.npy"))
    motion = DrivingMotion.load(manifest_of(real_clips, "driving_motion", "man").path("driving_motion.npz").parent)
    figures = reenactment_figures(frames, motion, load_face_model(manifest_of(real_clips, "face_coefficients", "man")))
    assert figures["expression_transfer_error_mouth_pct"] < 0.35 * figures["no_motion_error_mouth_pct"]
    assert figures["identity_drift_pct"] < 1.0
