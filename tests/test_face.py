"""Face tracking and the face model on the real clips at the tests' preset (real mediapipe, real fitting).

Bounds, at 128 px (pupils ~22 px apart): mean reprojection error < 0.25 px and p95 < 1.0 px. FACE_NOTES found a
non-rigid fit reaching 0.22 / 0.65 px at 256 px, i.e. ~0.11 / 0.33 px at 128 px; the bounds leave room for the
driving clip's extreme yawns (its p95 is the larger) while catching a broken pose (a rigid-only fit is ~0.5 / 1.5 px
at 128 px). Rotation leaked into the displacements < 0.5 deg and pose jitter against a 5-frame moving average
< 0.3 deg, as in FACE_NOTES. Set at 128 px (`preview`); the tests now run at 96 px, where the pixel bounds are
stricter still.
"""

import numpy as np
import pytest

from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.landmarks import track_landmarks
from cosavatar_pipeline.face.motion import DrivingMotion, retarget
from cosavatar_pipeline.stages.face_coefficients import load_face_model
from cosavatar_pipeline.stages.frames import load_frames
from tests.conftest import manifest_of


@pytest.fixture(scope="module")
def fitted(real_clips):
    return real_clips


_manifest = manifest_of


def _lip_gap_y(shapes: np.ndarray) -> np.ndarray:
    """(N, 478, 3) canonical shapes -> (N,) mm from the upper to the lower inner lip, vertically."""
    return shapes[:, lm.LOWER_INNER_LIP_CENTRE, 1] - shapes[:, lm.UPPER_INNER_LIP_CENTRE, 1]


def _mouth_open_ratio(shapes: np.ndarray) -> np.ndarray:
    """Inner-lip gap over forehead-to-chin height, on canonical 3D shapes (N, 478, 3)."""
    gap = np.linalg.norm(shapes[:, lm.UPPER_INNER_LIP_CENTRE] - shapes[:, lm.LOWER_INNER_LIP_CENTRE], axis=-1)
    return gap / np.linalg.norm(shapes[:, 10] - shapes[:, lm.CHIN], axis=-1)


@pytest.mark.parametrize("video", ["woman", "man"])
def test_fit_quality(fitted, video):
    info = _manifest(fitted, "face_coefficients", video).info
    assert info["tracked_ratio"] == 1.0
    assert info["reprojection_px_mean"] < 0.25
    assert info["reprojection_px_p95"] < 1.0
    assert info["rotation_leaked_into_displacements_deg"] < 0.5
    assert info["pose_jitter_deg_vs_5frame_average"] < 0.3
    assert info["expression_variance_explained"] > 0.95
    model = load_face_model(_manifest(fitted, "face_coefficients", video).directory)
    # metric scale: pupils 63 mm apart; a plausible face depth (camera 0.4-2 m away)
    assert np.linalg.norm(model.identity[468] - model.identity[473]) == pytest.approx(63.0, abs=0.01)
    assert 400 < model.head_translation_world_from_canonical[:, 2].mean() < 2000
    assert np.abs(model.expression_codes[model.neutral_frame]).max() < 1e-4
    # the asset checks ran and passed
    import dagster as dg

    for asset, check in (
        ("face_landmarks", "face_landmarks_tracked"),
        ("face_coefficients", "face_coefficients_reproject"),
    ):
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        record = fitted.instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert record.status.value == "SUCCEEDED"


def test_neutral_first_frame_is_near_zero_and_open_mouth_is_far(fitted):
    model = load_face_model(_manifest(fitted, "face_coefficients", "man").directory)
    points = np.load(_manifest(fitted, "face_landmarks", "man").path("landmarks.npy"))
    opening = np.linalg.norm(points[:, 13, :2] - points[:, 14, :2], axis=-1)
    widest = np.argsort(opening)[-5:]
    norms = np.linalg.norm(model.expression_codes, axis=1)
    assert norms[0] < 0.2 * norms[widest].min()
    assert norms[widest].min() > 2 * norms[0]
    assert model.neutral_frame < 20  # the clip starts neutral; the chosen neutral frame is in that stretch


def test_retarget_onto_itself_returns_its_own_codes_and_poses(fitted):
    model = load_face_model(_manifest(fitted, "face_coefficients", "woman").directory)
    motion = DrivingMotion.load(_manifest(fitted, "driving_motion", "woman").path("driving_motion.npz").parent)
    moved = retarget(motion, model)
    np.testing.assert_allclose(moved.scale, 1.0)  # the same face: nothing to scale
    np.testing.assert_allclose(moved.codes, model.expression_codes, atol=1e-3)
    np.testing.assert_allclose(moved.rotations, model.head_rotation_world_from_canonical, atol=1e-5)
    np.testing.assert_allclose(moved.translations, model.head_translation_world_from_canonical, atol=1e-2)


def test_retarget_driver_mouth_onto_target(fitted):
    target = load_face_model(_manifest(fitted, "face_coefficients", "woman").directory)
    driver = load_face_model(_manifest(fitted, "face_coefficients", "man").directory)
    motion = DrivingMotion.load(_manifest(fitted, "driving_motion", "man").path("driving_motion.npz").parent)
    moved = retarget(motion, target)
    codes, rotations = moved.codes, moved.rotations
    # scaled by the faces' proportions: the woman's nose-to-chin height over the man's
    from cosavatar_pipeline.face.motion import face_proportions

    expected = face_proportions(target.identity) / face_proportions(driver.identity)
    np.testing.assert_allclose(moved.scale[:2], expected[:2])
    assert 0.7 < moved.scale[1] < 1.4
    driver_ratio = _mouth_open_ratio(driver.identity[None] + driver.displacements)
    widest = int(np.argmax(driver_ratio))
    assert driver_ratio[widest] > 0.2  # a wide-open mouth
    # the warp reads the displacements: the driver's lip gap change, scaled to her face's height
    driver_opening = _lip_gap_y(driver.identity[None] + driver.displacements[widest]) - _lip_gap_y(
        driver.identity[None]
    )
    target_opening = _lip_gap_y(target.identity[None] + moved.displacements[widest]) - _lip_gap_y(target.identity[None])
    assert target_opening[0] == pytest.approx(driver_opening[0] * moved.scale[1], rel=0.02)
    # the residual's codes, on her expression basis, describe the same opening
    warped_ratio = _mouth_open_ratio(target.identity[None] + moved.displacements)
    assert abs(_mouth_open_ratio(target.shapes(codes))[widest] - warped_ratio[widest]) < 0.1 * warped_ratio[widest]
    # the driver's head turns come across as turns of the target's head
    from cosavatar_pipeline.face.geometry import mean_rotation, rotation_angle_deg

    driver_turn = rotation_angle_deg(
        mean_rotation(driver.head_rotation_world_from_canonical)[None], driver.head_rotation_world_from_canonical
    )
    target_turn = rotation_angle_deg(mean_rotation(target.head_rotation_world_from_canonical)[None], rotations)
    np.testing.assert_allclose(target_turn, driver_turn, atol=0.01)  # degrees; float32 poses (0.001 deg seen)


def test_untracked_frames_are_flagged_and_interpolated(fitted):
    frames = np.array(load_frames(_manifest(fitted, "frames", "woman").path("frames.npy").parent))
    background = np.median(frames[:, :10, :10].reshape(-1, 3), axis=0).astype(np.uint8)
    hidden = frames.copy()
    hidden[60:80] = background  # the face leaves the frame for 20 frames
    track = track_landmarks(hidden, label="woman with a gap")
    assert (~track.tracked).sum() == 20 and not track.tracked[60:80].any()
    # interpolated points lie between the neighbours, not at zero
    assert np.all(track.points[70, :, :2] > 10)
    mostly_hidden = frames.copy()
    mostly_hidden[20:] = background
    with pytest.raises(InputError, match=rf"woman mostly hidden: the face tracks in only \d+ of {len(frames)} frames"):
        track_landmarks(mostly_hidden, label="woman mostly hidden")


def test_clamp_codes_keeps_codes_inside_the_reference_range():
    from cosavatar_pipeline.face.motion import clamp_codes

    reference = np.array([[0.0, -1.0], [2.0, 1.0]])
    codes = np.array([[1.0, 0.0], [5.0, -3.0]])
    clipped, fraction = clamp_codes(codes, reference, margin=0.1)
    assert clipped.tolist() == [[1.0, 0.0], [2.2, -1.2]] and fraction == 0.5
