"""The NeRF: components checked against values worked out by hand, then training on real data through Dagster."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from cosavatar_pipeline.nerf.checkpoint import load_checkpoint, restore, save_checkpoint
from cosavatar_pipeline.nerf.config import EncodingConfig
from cosavatar_pipeline.nerf.encoding import HashGridEncoding, TriPlaneEncoding, build_encoding
from cosavatar_pipeline.nerf.rays import intersect_box, pixel_directions, to_head_space
from cosavatar_pipeline.nerf.renderer import composite
from cosavatar_pipeline.presets import get_preset
from tests.conftest import MAN_AVATAR_STEPS, REAL_CLIP_PRESET, WOMAN_AVATAR_STEPS, latest_materialization, manifest_of


def test_composite_by_hand():
    # one ray, two samples 10 mm wide (1 cm): densities ln 2 and ln 4 per cm -> alphas 1/2 and 3/4
    depths = torch.tensor([[20.0, 10.0]])  # unsorted on purpose
    widths = torch.tensor([[10.0, 10.0]])
    densities = torch.tensor([[np.log(4.0), np.log(2.0)]], dtype=torch.float32)
    colours = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    is_head = torch.tensor([[0.0, 1.0]])
    out = composite(depths, widths, densities, colours, is_head, background=torch.tensor([[0.0, 0.0, 1.0]]))
    # weights: near sample 1/2, far sample (1 - 1/2) * 3/4 = 3/8; background 1/8
    torch.testing.assert_close(out["rgb"], torch.tensor([[0.5, 0.375, 0.125]]), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["opacity"], torch.tensor([0.875]), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["depth"], torch.tensor([(0.5 * 10 + 0.375 * 20) / 0.875]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out["head_share"], torch.tensor([0.5 / 0.875]), atol=1e-5, rtol=0)


def test_rays_and_boxes():
    directions = pixel_directions(torch.tensor([[63.5, 63.5], [0.0, 63.5]]), focal=100.0, principal_point=(64.0, 64.0))
    torch.testing.assert_close(directions[0], torch.tensor([0.0, 0.0, 1.0]))
    assert directions[1, 0] < 0  # left column looks left
    near, far, hit = intersect_box(
        torch.zeros(2, 3), directions, torch.tensor([-10.0, -10, 90]), torch.tensor([10.0, 10, 110])
    )
    assert hit.tolist() == [True, False]
    assert near[0].item() == pytest.approx(90.0) and far[0].item() == pytest.approx(110.0)
    # a head turned 90 degrees about y, 100 mm in front: the camera's axis ray enters the head from its +x side
    rotation = torch.tensor([[[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]])
    origin, direction = to_head_space(
        torch.zeros(1, 3), torch.tensor([[0.0, 0, 1]]), rotation, torch.tensor([[0.0, 0, 100]])
    )
    torch.testing.assert_close(origin, torch.tensor([[100.0, 0, 0]]))
    torch.testing.assert_close(direction, torch.tensor([[-1.0, 0, 0]]))


@pytest.mark.parametrize("kind", ["triplane", "hashgrid"])
def test_encodings_interpolate_and_learn(kind):
    torch.manual_seed(0)
    encoding = build_encoding(
        EncodingConfig(kind=kind, channels=4, resolution=16, levels=4, log2_table_size=10, max_resolution=32)
    )
    points = torch.rand(256, 3) * 2 - 1
    target = torch.sin(3 * points).sum(-1, keepdim=True)
    head = torch.nn.Linear(encoding.output_dims, 1)
    optimizer = torch.optim.Adam(list(encoding.parameters()) + list(head.parameters()), 1e-2)
    first = None
    for _ in range(150):
        loss = (head(encoding(points)) - target).pow(2).mean()
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first


def test_hash_grid_scatter_backward_matches_autograd_indexing():
    torch.manual_seed(0)
    grid = HashGridEncoding(levels=3, features_per_level=2, log2_table_size=8, base_resolution=4, max_resolution=16)
    points = torch.rand(500, 3) * 2 - 1
    weights = torch.randn(grid.output_dims)
    (grid(points) @ weights).sum().backward()
    ours = grid.tables.grad.clone()
    # the same lookup written with plain indexing, differentiated by autograd
    grid.tables.grad = None
    import cosavatar_pipeline.nerf.encoding as enc

    original = enc._FlatGather.apply
    enc._FlatGather.apply = lambda table, indices: table[indices]
    try:
        (grid(points) @ weights).sum().backward()
    finally:
        enc._FlatGather.apply = original
    torch.testing.assert_close(ours, grid.tables.grad)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(TriPlaneEncoding(2, 8), torch.nn.Linear(6, 1))
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    points = torch.rand(64, 3) * 2 - 1
    for _ in range(3):
        optimizer.zero_grad()
        model(points).pow(2).mean().backward()
        optimizer.step()
    save_checkpoint(tmp_path, model, optimizer, {"step": 3})
    tensors, meta = load_checkpoint(tmp_path)
    copy = torch.nn.Sequential(TriPlaneEncoding(2, 8), torch.nn.Linear(6, 1))
    copy_optimizer = torch.optim.Adam(copy.parameters(), 1e-2)
    restore(copy, copy_optimizer, tensors, meta)
    assert meta["step"] == 3
    for m, o in ((model, optimizer), (copy, copy_optimizer)):
        o.zero_grad()
        m(points).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), copy.parameters()):
        torch.testing.assert_close(a, b)


def test_avatar_trains_on_real_data(trained_avatars):
    info = manifest_of(trained_avatars, "avatar", "woman").info  # trained for 300 steps by the fixture
    # the background plate alone scores ~10.6 dB on the held-out frames; 300 steps reach ~23 dB
    assert info["plate_psnr"] < 13
    assert info["holdout_psnr"] > info["plate_psnr"] + 9
    assert info["holdout_psnr_person"] > 19
    assert info["steps"] == WOMAN_AVATAR_STEPS and info["resumed_from_step"] == 0
    import dagster as dg
    from mlflow import MlflowClient

    materialization = latest_materialization(trained_avatars.instance, "avatar", "woman")
    run_id = materialization.metadata["mlflow_run_id"].value
    history = MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).get_metric_history(run_id, "loss")
    logged_every = get_preset(REAL_CLIP_PRESET).nerf.log_every
    assert len(history) == WOMAN_AVATAR_STEPS // logged_every and history[-1].value < history[0].value  # and falling
    key = dg.AssetCheckKey(dg.AssetKey("avatar"), "avatar_beats_background_plate")
    assert (
        trained_avatars.instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].status.value
        == "SUCCEEDED"
    )


RUN_AVATAR = f"""
from cosavatar_pipeline.orchestration.operations import Pipeline
Pipeline().materialize_video(
    "man", select=["avatar"], asset_config={{"avatar": {{"steps": {MAN_AVATAR_STEPS}, "checkpoint_every": 40}}}}
)
"""


def test_interrupted_avatar_resumes_from_its_checkpoint(real_clips):
    scratch = real_clips.home.checkpoints / "avatar" / "man"
    stored = real_clips.asset_folder("avatar", "man") / "manifest.json"
    # `trained_avatars` may have stored the man's avatar: it has the same settings, so either order leaves a
    # MAN_AVATAR_STEPS avatar for the tests after
    stored_before = stored.read_text() if stored.exists() else None
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_AVATAR],
        env=os.environ.copy(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            meta = scratch / "avatar.json"
            if meta.exists() and json.loads(meta.read_text())["step"] >= 80:
                break
            assert process.poll() is None, "training ended before it could be interrupted"
            time.sleep(0.5)
        else:
            pytest.fail("no checkpoint written")
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # a crash: no handler runs
        process.wait()
    interrupted_at = json.loads((scratch / "avatar.json").read_text())["step"]
    assert (stored.read_text() if stored.exists() else None) == stored_before  # the store is as it was

    import dagster as dg

    killed_run = real_clips.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert len(killed_run) == 1  # the killed run still looks alive and holds the `gpu` pool slot
    outcome = real_clips.materialize_video(
        "man", select=["avatar"], asset_config={"avatar": {"steps": MAN_AVATAR_STEPS, "checkpoint_every": 40}}
    )
    assert outcome.success, outcome.failures
    assert real_clips.instance.get_run_by_id(killed_run[0].run_id).status == dg.DagsterRunStatus.FAILURE
    info = manifest_of(real_clips, "avatar", "man").info
    assert info["resumed_from_step"] == interrupted_at >= 80
    assert info["steps"] == MAN_AVATAR_STEPS
    assert not scratch.exists()  # the scratch checkpoint is dropped once the avatar is stored
    assert not [
        p.name
        for p in real_clips.asset_folder("avatar", "man").parent.iterdir()
        if p.name.startswith(".") and not p.name.endswith(".lock")
    ]


def test_landmark_warp_maps_the_moved_lower_lip_back_to_the_neutral_lip(real_clips):
    """A hand-made jaw drop on a real neutral face: the lower lip and everything below the mouth corners moved
    10 mm down. A point on the moved lower lip maps back to the neutral lip; the forehead does not move; the
    grid-sampled field matches the direct sum over landmarks."""
    from cosavatar_pipeline.face import landmarks as lm
    from cosavatar_pipeline.nerf import deformation
    from cosavatar_pipeline.stages.face_coefficients import load_face_model

    identity = load_face_model(manifest_of(real_clips, "face_coefficients", "woman").directory).identity
    ids = deformation.warp_landmarks(identity)
    neutral = identity[ids]
    below_mouth = (neutral[:, 1] > identity[list(lm.MOUTH_CORNERS), 1].mean() + 2.0) | np.isin(ids, lm.LOWER_INNER_LIP)
    offsets = np.zeros((1, len(ids), 3), np.float32)
    offsets[0, below_mouth, 1] = 10.0
    fields = deformation.WarpFields.build(neutral, offsets)
    lower_lip, forehead = identity[lm.LOWER_INNER_LIP_CENTRE], identity[10]
    assert lm.LOWER_INNER_LIP_CENTRE in ids[below_mouth]
    points = torch.tensor(np.stack([lower_lip + [0, 10, 0], forehead])[None], dtype=torch.float32)  # (1 ray, 2, 3)
    warped = deformation.warp_to_neutral(points, fields, torch.zeros(1, dtype=torch.long))[0][0].numpy()
    assert np.linalg.norm(warped[0] - lower_lip) < 2.0  # 10 mm of motion undone to within 2 mm (1.5 mm measured)
    assert np.linalg.norm(warped[1] - forehead) < 0.05
    # the grid against the formula it samples, around the moved face
    rng = np.random.default_rng(0)
    moved = neutral + offsets[0]
    probes = moved[rng.integers(0, len(moved), 500)] + rng.normal(0, 4, (500, 3))
    weights = np.exp(-0.5 * ((probes[:, None] - moved[None]) ** 2).sum(-1) / deformation.WARP_SIGMA_MM**2)
    far = np.exp(-0.5 * (deformation.FAR_FIELD_MM / deformation.WARP_SIGMA_MM) ** 2)
    coefficients = deformation.warp_coefficients(moved[None], offsets[:, :, :2])[0].numpy()
    direct = weights @ coefficients / (weights.sum(-1, keepdims=True) + far)
    sampled = fields.displacement(torch.tensor(probes, dtype=torch.float32), torch.zeros(500, dtype=torch.long)).numpy()
    # a 10 mm step in offset between the lips: the 4 mm grid smooths it by up to ~0.9 mm, 0.03 mm on average
    assert np.abs(sampled[:, :2] - direct).max() < 1.5 and np.abs(sampled[:, :2] - direct).mean() < 0.1


def _astronaut_identity() -> np.ndarray:
    """(478, 3) mm: FaceMesh on the bundled portrait, in canonical head space (pupils 63 mm apart)."""
    from skimage import data

    from cosavatar_pipeline.face.canonical import INTER_PUPIL_MM, pupil_distance, to_canonical
    from cosavatar_pipeline.face.landmarks import FaceMesh

    with FaceMesh(video_mode=False) as mesh:
        canonical = to_canonical(mesh.detect(data.astronaut()))
    return canonical * INTER_PUPIL_MM / pupil_distance(canonical)


def _open_eye_mm(fields, identity, upper: int, lower: int) -> float:
    """How much of the neutral eye opening (mm) stays visible on the vertical line through the lids' middle: the
    length of the line whose points the warp sends between the neutral lids."""
    x, z = (identity[upper, 0] + identity[lower, 0]) / 2, (identity[upper, 2] + identity[lower, 2]) / 2
    ys = np.arange(identity[upper, 1] - 8, identity[lower, 1] + 8, 0.05)
    line = torch.tensor(np.stack([np.full_like(ys, x), ys, np.full_like(ys, z)], 1), dtype=torch.float32)
    warped = ys - fields.displacement(line, torch.zeros(len(ys), dtype=torch.long))[:, 1].numpy()
    return float(((warped > identity[upper, 1]) & (warped < identity[lower, 1])).sum() * 0.05)


@pytest.mark.parametrize("closure", [0.9, 1.0, 1.3])
def test_a_wink_closes_the_winking_eye_and_leaves_the_other_open(closure):
    """The right upper lid moved 90%, 100% and 130% of the way to the lower one. The coarse field alone squeezes
    the eye (about 70% of it stays visible); with the eyelids' fine field at most 30% does (a lid that would close
    fully or past the other stops 10% short: there the field cannot take both lids' offsets), and the left eye
    stays open."""
    from cosavatar_pipeline.face import landmarks as lm
    from cosavatar_pipeline.nerf import deformation

    identity = _astronaut_identity()
    ids = deformation.warp_landmarks(identity)
    displacements = np.zeros((1, 478, 3))
    for upper, lower in zip(lm.UPPER_LID_RIGHT, lm.LOWER_LID_RIGHT):
        displacements[0, upper, 1] = closure * (identity[lower, 1] - identity[upper, 1])
    offsets = deformation.warp_offsets(displacements, ids)
    coarse = deformation.WarpFields.build(identity[ids], offsets)
    fine = deformation.WarpFields.build(identity[ids], offsets, eyelids=deformation.Eyelids.among(ids))
    right, left = (159, 145), (386, 374)
    right_gap = identity[145, 1] - identity[159, 1]
    assert _open_eye_mm(coarse, identity, *right) > 0.5 * right_gap
    assert _open_eye_mm(fine, identity, *right) < 0.3 * right_gap
    assert _open_eye_mm(fine, identity, *left) > 0.95 * (identity[374, 1] - identity[386, 1])
    assert (fine.stopped_lid_share > 0) == (closure >= 1.0)


def test_open_mouth_points_go_behind_the_lips_instead_of_stretching_them():
    """A hand-built inner-lip ring, 40 mm wide and nearly closed on the neutral face, opened 12 mm in one frame
    (lower lip down) and left closed in another. In the open frame a point in the gap at lip depth keeps its x and
    goes the cavity's depth back, as far from the neutral seam as from its nearer lip (below the seam for the upper
    lip, above for the lower); the air in front of the mouth and a point just below the moved lower lip are warped
    as without a cavity; in the closed frame the gap point is not moved."""
    from cosavatar_pipeline.nerf import cavity, deformation

    angles = np.linspace(0, 2 * np.pi, len(cavity.INNER_LIP_RING), endpoint=False)  # upper lip first (y up is -)
    neutral = np.stack([20 * np.cos(angles), -0.2 * np.sin(angles), np.zeros_like(angles)], axis=1).astype(np.float32)
    offsets = np.zeros((2, len(neutral), 3), np.float32)
    offsets[0, neutral[:, 1] > 0.05, 1] = 12.0  # y grows downwards: the lower lip drops
    ring = np.arange(len(neutral))
    fields = deformation.WarpFields.build(neutral, offsets, ring, cavity_depth_mm=15.0)
    plain = deformation.WarpFields.build(neutral, offsets)
    # at x = 0 the gap spans y -0.2 .. 12.2; the air point is farther than FRONT_MARGIN_MM in front of the lips
    near_upper, near_lower, air, below_lip = [0.0, 3.0, 0.0], [0.0, 10.0, 0.0], [0.0, 6.0, -15.0], [0.0, 14.0, 0.0]
    points = torch.tensor([[near_upper, near_lower, air, below_lip]], dtype=torch.float32)

    def warped(f, frame):
        return deformation.warp_to_neutral(points, f, torch.tensor([frame]))[0][0].numpy()

    open_frame, closed_frame = warped(fields, 0), warped(fields, 1)
    seam = fields.cavity.seam_y
    np.testing.assert_allclose(open_frame[0], [0.0, seam + 3.2, 15.0], atol=0.6)
    np.testing.assert_allclose(open_frame[1], [0.0, seam - 2.2, 15.0], atol=0.6)
    np.testing.assert_allclose(open_frame[2:], warped(plain, 0)[2:], atol=0.1)
    assert abs(open_frame[3, 1] - 2.0) < 1.0  # 1.8 mm below the moved lower lip: as far below the neutral one
    np.testing.assert_allclose(closed_frame[:2], [near_upper, near_lower], atol=1e-3)
    # "unseen" (rendered in the mouth-interior colour) only where no training frame opened the mouth that far
    only_closed_seen = deformation.WarpFields.build(
        neutral, offsets, ring, cavity_depth_mm=15.0, seen_offsets=offsets[1:]
    )
    assert deformation.warp_to_neutral(points, fields, torch.tensor([0]))[1][0, 0] < 1e-3
    assert deformation.warp_to_neutral(points, only_closed_seen, torch.tensor([0]))[1][0, 0] > 0.99


def test_the_head_pose_shapes_the_hair_but_never_the_face(real_clips):
    """The warped head field reads the head pose (hair hangs by gravity) only away from the face: the pose part of
    the field's condition is (nearly) zero at the face's landmarks and whole 40 mm above the forehead."""
    from cosavatar_pipeline.nerf.dataset import head_box_from_identity
    from cosavatar_pipeline.nerf.deformation import warp_landmarks
    from cosavatar_pipeline.nerf.model import AvatarModel, FaceSetup
    from cosavatar_pipeline.nerf.sampler import normalise_to_box
    from cosavatar_pipeline.presets import nerf_config
    from cosavatar_pipeline.stages.face_coefficients import load_face_model

    identity = load_face_model(manifest_of(real_clips, "face_coefficients", "woman").directory).identity
    box = head_box_from_identity(identity)
    face = FaceSetup(identity, warp_landmarks(identity), np.zeros(4), np.ones(4), np.full(3, 0.2))
    model = AvatarModel(nerf_config("tiny"), 10, 4, box, box + [[0, 0, 400], [0, 0, 400]], face)
    above_forehead = identity[10] + [0.0, -40.0, -5.0]
    points = normalise_to_box(
        torch.tensor(np.vstack([identity, above_forehead]), dtype=torch.float32), torch.tensor(box)
    )
    turned = torch.zeros(len(points), 6)
    turned[:, 1] = 0.4  # 23 degrees of yaw
    pose_read = model._warped_condition(points, torch.zeros(len(points), 4), turned)[:, -6:]
    assert pose_read.shape == (len(points), 6)
    # the face: 5% of it on average, 10% at most (measured; the gate is sampled on a 64^3 grid, 3.6 mm apart)
    assert pose_read[:-1, 1].abs().mean() < 0.07 * 0.4 and pose_read[:-1, 1].abs().max() < 0.15 * 0.4
    assert pose_read[-1, 1] > 0.99 * 0.4  # the hair above the forehead reads the pose whole
    # without the setting (avatars stored before it) the condition is the gated codes alone
    plain = AvatarModel(
        nerf_config("tiny", head_pose_condition=False), 10, 4, box, box + [[0, 0, 400], [0, 0, 400]], face
    )
    assert plain._warped_condition(points, torch.zeros(len(points), 4), turned).shape == (len(points), 4)
    assert model.config.head_pose_condition


def test_the_inside_of_an_open_mouth_never_reads_the_head_pose(real_clips):
    """Points between a jaw-dropped frame's lips, sent behind the neutral mouth by the cavity, read none of the
    head pose (else the teeth's colour follows the head's turn); avatars stored before this read it there."""
    from cosavatar_pipeline.nerf import cavity, deformation
    from cosavatar_pipeline.nerf.dataset import head_box_from_identity
    from cosavatar_pipeline.nerf.model import AvatarModel, FaceSetup
    from cosavatar_pipeline.nerf.sampler import normalise_to_box
    from cosavatar_pipeline.presets import nerf_config
    from cosavatar_pipeline.stages.face_coefficients import load_face_model

    identity = load_face_model(manifest_of(real_clips, "face_coefficients", "woman").directory).identity
    box = head_box_from_identity(identity)
    ids = deformation.warp_landmarks(identity)
    neutral = identity[ids]
    ring = neutral[cavity.ring_positions(ids)]
    seam_y, centre_x = ring[:, 1].mean(), ring[:, 0].mean()
    jaw = (neutral[:, 1] > seam_y) & (np.abs(neutral[:, 0] - centre_x) < 40)
    offsets = np.zeros((1, len(ids), 3), np.float32)
    offsets[0, jaw, 1] = 12.0  # the jaw drops 12 mm (y grows downwards)
    depth = nerf_config("tiny").mouth_cavity_mm
    fields = deformation.WarpFields.build(neutral, offsets, cavity.ring_positions(ids), depth)
    front_z = cavity.mouth_front_z(ring, identity)
    gap = torch.tensor([[[centre_x, seam_y + 6.0, front_z + z] for z in (5.0, 15.0, 40.0, 80.0)]], dtype=torch.float32)
    inside, _ = deformation.warp_to_neutral(gap, fields, torch.tensor([0]))
    points = normalise_to_box(inside[0], torch.tensor(box, dtype=torch.float32))
    face = FaceSetup(identity, ids, np.zeros(4), np.ones(4), np.full(3, 0.2))
    turned = torch.zeros(len(points), 6)
    turned[:, 1] = 0.4  # 23 degrees of yaw
    for outside_mouth in (True, False):
        config = nerf_config("tiny", pose_outside_mouth=outside_mouth)
        model = AvatarModel(config, 10, 4, box, box + [[0, 0, 400], [0, 0, 400]], face)
        pose_read = model._warped_condition(points, torch.zeros(len(points), 4), turned)[:, -6:]
        if outside_mouth:
            assert pose_read.abs().max() < 1e-6
        else:  # as before Dec 3: the pose reached deep inside the mouth (over 0.8 of it, measured 0.93-1.0)
            assert pose_read[1:, 1].min() > 0.8 * 0.4


def test_avatar_saved_before_the_cavity_loads_without_one():
    from cosavatar_pipeline.nerf.config import NerfConfig

    saved = NerfConfig(expression_control="landmark_warp").as_dict()
    del saved["mouth_cavity_mm"], saved["head_pose_condition"]
    old = NerfConfig.from_dict(saved)
    assert old.mouth_cavity_mm == 0.0 and NerfConfig().mouth_cavity_mm > 0
    assert not old.head_pose_condition and NerfConfig().head_pose_condition


def test_holdout_has_an_interleaved_set_and_a_contiguous_segment_of_wide_mouths():
    from cosavatar_pipeline.nerf.holdout import contiguous_segment, interleaved, within_training_openings

    mouth = np.zeros(100)
    mouth[70:76] = np.linspace(0.1, 0.4, 6)  # the clip's only wide opening
    segment = contiguous_segment(mouth, 20)
    assert len(segment) == 20 and np.all(np.diff(segment) == 1)
    assert set(range(70, 76)) <= set(segment.tolist())  # it covers the whole opening range
    assert interleaved(30, 10).tolist() == [5, 15, 25]
    assert contiguous_segment(mouth, 0).size == 0 and contiguous_segment(mouth, 30).size == 0  # > 25% of the clip
    # the segment holds the clip's widest openings: the ones wider than any training frame are told apart
    train = np.setdiff1d(np.arange(100), segment)
    mouth[10] = 0.25  # a training frame opening this wide
    within = within_training_openings(mouth, train, segment)
    assert set(segment[~within].tolist()) == {73, 74, 75}  # 0.28, 0.34 and 0.4


def test_avatar_reports_both_holdouts_and_expression_figures(trained_avatars):
    info = manifest_of(trained_avatars, "avatar", "woman").info
    # a 1.2 s segment (15 frames at 12.5 fps); every 10th of the other frames is held out too
    preset = get_preset(REAL_CLIP_PRESET)
    frame_count = np.load(manifest_of(trained_avatars, "frames", "woman").path("frames.npy"), mmap_mode="r").shape[0]
    assert info["segment_frames"] == round(preset.nerf.holdout_segment_seconds * preset.fps)
    assert abs(info["holdout_frames"] - (frame_count - info["segment_frames"]) / 10) <= 2
    for name in ("segment_psnr", "segment_psnr_person", "segment_psnr_mouth", "holdout_psnr_mouth"):
        assert 12 < info[name] < 40
    # the segment's frames, split by whether training ever opened the mouth as wide
    split = [info.get(f"segment_frames_{part}", 0) for part in ("within_training", "beyond_training")]
    assert sum(split) == info["segment_frames"] and info["segment_opening_over_training"] > 0
    # the reference's detector noise floor on the segment: the source blurred to the render's sharpness
    assert info["segment_noise_floor_mouth_r"] > 0.8
    assert info["expression_control"] == "landmark_warp" and 4 <= info["expression_components"] <= 32
    # the colour a never-lit mouth inside takes, stored with the avatar: darker than the person's face
    tensors, _ = load_checkpoint(manifest_of(trained_avatars, "avatar", "woman").directory)
    from cosavatar_pipeline.stages.frames import FRAMES_FILE

    frames = np.load(manifest_of(trained_avatars, "frames", "woman").path(FRAMES_FILE), mmap_mode="r")
    face = frames[0, frames.shape[1] // 3 : frames.shape[1] // 2, frames.shape[2] // 3 : 2 * frames.shape[2] // 3]
    assert tensors["model.mouth_interior"].mean() < face.mean() / 255.0 - 0.15


def test_the_appearance_latent_of_the_warped_head_field_learns():
    """The per-frame latent starts at zero; its colour map must not, or neither ever gets a gradient (the latents of
    every avatar before Dec 2026 stayed exactly zero). One step of a colour loss moves both."""
    from cosavatar_pipeline.nerf.fields import WarpedHeadField

    torch.manual_seed(0)
    field = WarpedHeadField(EncodingConfig(channels=4, resolution=8), 4, 8, 16)
    latents = torch.zeros(3, 8, requires_grad=True)
    points = torch.rand(30, 3) * 2 - 1
    _, rgb = field(points, torch.zeros(30, 4), latents.repeat_interleave(10, dim=0))
    (rgb - torch.tensor([1.0, 0.0, 0.0])).pow(2).mean().backward()
    assert latents.grad.abs().sum() > 0
    assert field.colour_shift.weight.grad.abs().sum() == 0  # zero latents: only the latents move first
