"""Fit the face model to tracked landmarks: all frames at once, batched in PyTorch.

Pose and non-rigid displacements are fitted jointly (a rigid-only fit lets mouth motion leak into pitch), with a
200x heavier displacement penalty on the rigid point set, displacements constrained to zero mean over the clip,
second-difference smoothness on pose, and a fixed focal length (not observable from landmarks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.canonical import (
    INTER_PUPIL_MM,
    choose_neutral_frame,
    pupil_distance,
    rigid_point_mask,
    to_canonical,
)
from cosavatar_pipeline.face.geometry import axis_angle_to_matrix, project, rigid_align, rotation_angle_deg
from cosavatar_pipeline.face.landmarks import LandmarkTrack, inter_ocular_px
from cosavatar_pipeline.face.model import Camera, FaceModel


@dataclass(frozen=True)
class FitConfig:
    field_of_view_deg: float = 25.0
    expression_dims: int = 32
    iterations: int = 400
    # Residuals are measured in pixels of a 256-px frame, so these weights hold at every preset.
    reference_size_px: int = 256
    displacement_weight: float = 0.02  # per mm² of displacement, non-rigid points (mouth, jaw, lids must move freely)
    # rigid points pay 200x: 4 per mm². Measured on the test clips: rotation leaked into displacements 0.06-0.14 deg
    # (0.34-0.64 deg at 20x), reprojection p95 0.4-0.8 px at 128 px.
    rigid_displacement_factor: float = 200.0
    identity_prior_weight: float = 1e-3  # per mm² away from the initial (mediapipe) neutral shape
    rotation_smoothness_weight: float = 0.5  # per deg² of second difference
    translation_smoothness_weight: float = 0.02  # per mm² of second difference
    neutral_frame: int | None = None  # None: chosen automatically
    threads: int | None = None


@dataclass
class FitResult:
    model: FaceModel
    figures: dict[str, float]
    reprojection_px_per_frame: np.ndarray  # (N,) mean error with the fitted (uncompressed) shapes
    projected_points: np.ndarray  # (N, 478, 2) the fitted model's landmarks in pixels
    rigid_mask: np.ndarray


def camera_for(image_size: int, field_of_view_deg: float) -> Camera:
    focal = (image_size / 2) / np.tan(np.radians(field_of_view_deg) / 2)
    return Camera(float(focal), (image_size / 2, image_size / 2), image_size, field_of_view_deg)


def _initial_poses(shape_mm: np.ndarray, observed: np.ndarray, camera: Camera, subset: np.ndarray):
    matrix = np.array(
        [[camera.focal_px, 0, camera.principal_point[0]], [0, camera.focal_px, camera.principal_point[1]], [0, 0, 1]]
    )
    rotations, translations = [], []
    for points in observed:
        ok, rvec, tvec = cv2.solvePnP(
            shape_mm[subset].astype(np.float64),
            points[subset].astype(np.float64),
            matrix,
            None,
            flags=cv2.SOLVEPNP_SQPNP,
        )
        rotations.append(rvec[:, 0])
        translations.append(tvec[:, 0])
    return np.array(rotations), np.array(translations)


def _initial_displacements(
    identity: np.ndarray, observed: np.ndarray, rotvecs: np.ndarray, translations: np.ndarray, camera: Camera
) -> np.ndarray:
    """(N, P, 3) canonical displacements that put each landmark on its observed pixel at the initial pose (the
    observation lifted to the depth of the identity's point). Adam moves a parameter by about its learning rate per
    step, so starting from zero a yawn's 20 mm lower lip would not be reached within the iterations."""
    rotations = axis_angle_to_matrix(torch.as_tensor(rotvecs, dtype=torch.float64)).numpy()  # world from canonical
    in_camera = np.einsum("nij,pj->npi", rotations, identity) + translations[:, None]
    depth = in_camera[..., 2:3]
    lifted = np.concatenate([(observed - np.asarray(camera.principal_point)) / camera.focal_px * depth, depth], axis=-1)
    canonical = np.einsum("nji,npj->npi", rotations, lifted - translations[:, None])
    return canonical - identity[None]


def _moving_average(values: np.ndarray, window: int = 5) -> np.ndarray:
    pad = window // 2
    padded = np.pad(values, ((pad, pad), (0, 0)), mode="edge")
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(values.shape[1])], axis=1)


@dataclass
class _FitStart:
    """Where the optimisation starts: a metric neutral shape from the neutral frame, PnP poses, and displacements
    that put every landmark on its observation at those poses."""

    identity: np.ndarray  # (478, 3) mm
    rigid: np.ndarray  # (478,) bool
    rotvec: np.ndarray  # (N, 3)
    translation: np.ndarray  # (N, 3) mm
    displacements: np.ndarray  # (N, 478, 3) mm


def _fit_start(track: LandmarkTrack, observed: np.ndarray, camera: Camera, neutral: int) -> _FitStart:
    neutral_canonical = to_canonical(track.points[neutral].astype(np.float64))
    identity = neutral_canonical * (INTER_PUPIL_MM / pupil_distance(neutral_canonical))
    rigid = rigid_point_mask(identity)
    pose_points = rigid | np.isin(np.arange(len(identity)), lm.OUTER_EYE_CORNERS)
    rotvec, translation = _initial_poses(identity, observed, camera, pose_points)
    displacements = (
        _initial_displacements(identity, observed, rotvec, translation, camera) * track.tracked[:, None, None]
    )
    return _FitStart(identity, rigid, rotvec, translation, displacements)


def _pose_smoothness(rotvec: torch.Tensor, translation: torch.Tensor, config: FitConfig) -> torch.Tensor:
    """Second-difference penalty on (N, 3) rotation vectors (in degrees) and translations; zero under 3 frames."""
    if len(rotvec) < 3:
        return torch.zeros((), dtype=rotvec.dtype)
    rot_deg = torch.rad2deg(rotvec)
    smooth = config.rotation_smoothness_weight * (rot_deg[2:] - 2 * rot_deg[1:-1] + rot_deg[:-2]).pow(2).sum(-1).mean()
    return (
        smooth
        + config.translation_smoothness_weight
        * (translation[2:] - 2 * translation[1:-1] + translation[:-2]).pow(2).sum(-1).mean()
    )


def _optimise(
    start: _FitStart,
    observed: np.ndarray,
    tracked: np.ndarray,
    camera: Camera,
    image_size: int,
    config: FitConfig,
    progress: Callable[[int, int, float], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Adam on pose, identity and zero-mean displacements jointly -> identity (478, 3), rotations (N, 3, 3),
    translations (N, 3), displacements (N, 478, 3) and the fitted landmarks in pixels (N, 478, 2)."""
    dtype = torch.float64
    to_pixels_ref = config.reference_size_px / image_size
    target = torch.tensor(observed, dtype=dtype)
    frame_weight = torch.tensor(tracked, dtype=dtype)[:, None]
    point_penalty = torch.where(torch.tensor(start.rigid), config.rigid_displacement_factor, 1.0).to(dtype)[
        None, :, None
    ]
    identity_prior = torch.tensor(start.identity, dtype=dtype)

    rotvec = torch.tensor(start.rotvec, dtype=dtype, requires_grad=True)
    translation = torch.tensor(start.translation, dtype=dtype, requires_grad=True)
    identity = identity_prior.clone().requires_grad_(True)
    displacement_raw = torch.tensor(start.displacements, dtype=dtype, requires_grad=True)
    optimizer = torch.optim.Adam(
        [
            {"params": [rotvec], "lr": 2e-3},
            {"params": [translation], "lr": 0.5},
            {"params": [identity], "lr": 0.05},
            {"params": [displacement_raw], "lr": 0.05},
        ]
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.iterations, eta_min=0.0)

    def model_points():
        displacement = displacement_raw - displacement_raw.mean(dim=0, keepdim=True)
        shapes = identity[None] + displacement
        rotation = axis_angle_to_matrix(rotvec)
        cam = shapes @ rotation.transpose(1, 2) + translation[:, None]
        return project(cam, camera.focal_px, camera.principal_point), displacement

    for step in range(config.iterations):
        optimizer.zero_grad(set_to_none=True)
        projected, displacement = model_points()
        residual = ((projected - target) * to_pixels_ref).pow(2).sum(-1)
        data = (residual * frame_weight).sum() / (frame_weight.sum() * residual.shape[1])
        regulariser = config.displacement_weight * (point_penalty * displacement.pow(2)).mean() * 3
        prior = config.identity_prior_weight * (identity - identity_prior).pow(2).mean() * 3
        loss = data + regulariser + prior + _pose_smoothness(rotvec, translation, config)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress and ((step + 1) % 50 == 0 or step + 1 == config.iterations):
            progress(step + 1, config.iterations, loss.item())

    with torch.no_grad():
        projected, displacement = model_points()
        rotations = axis_angle_to_matrix(rotvec).numpy()
    return identity.detach().numpy(), rotations, translation.detach().numpy(), displacement.numpy(), projected.numpy()


def _expression_basis(expression: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(N, 478, 3) displacements from the neutral -> basis (K, 478*3), codes (N, K) and the share of the
    displacements' energy the K leading components explain."""
    flat = expression.reshape(len(expression), -1)
    _, singular, vt = np.linalg.svd(flat, full_matrices=False)
    basis = vt[:dims]
    energy = singular**2
    return basis, flat @ basis.T, float(energy[:dims].sum() / max(energy.sum(), 1e-12))


def fit_face_model(
    track: LandmarkTrack,
    image_size: int,
    config: FitConfig = FitConfig(),
    progress: Callable[[int, int, float], None] | None = None,
) -> FitResult:
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    observed = track.points[..., :2].astype(np.float64)
    count = len(observed)
    camera = camera_for(image_size, config.field_of_view_deg)
    neutral = (
        config.neutral_frame if config.neutral_frame is not None else choose_neutral_frame(track.points, track.tracked)
    )
    start = _fit_start(track, observed, camera, neutral)
    identity, rotations, translations, displacement, projected = _optimise(
        start, observed, track.tracked, camera, image_size, config, progress
    )
    neutral_identity = identity + displacement[neutral]
    expression = displacement - displacement[neutral]
    # Scaling the whole scene about the camera centre leaves every projection unchanged: fix the metric scale.
    scale = INTER_PUPIL_MM / pupil_distance(neutral_identity)
    neutral_identity, expression, translations = neutral_identity * scale, expression * scale, translations * scale
    dims = min(config.expression_dims, count)
    basis, codes, explained = _expression_basis(expression, dims)
    model = FaceModel(
        camera=camera,
        head_rotation_world_from_canonical=rotations,
        head_translation_world_from_canonical=translations,
        identity=neutral_identity,
        displacements=expression,
        expression_basis=basis,
        expression_codes=codes,
        neutral_frame=neutral,
    )
    figures, per_frame_error = _figures(model, observed, track, projected, start.rigid)
    figures.update(
        expression_variance_explained=explained,
        expression_dims=float(dims),
        fit_seconds=time.perf_counter() - started,
        neutral_frame=float(neutral),
        rigid_points=float(start.rigid.sum()),
    )
    return FitResult(model, figures, per_frame_error, projected, start.rigid)


def reproject(model: FaceModel, codes: np.ndarray | None = None) -> np.ndarray:
    """(N, 478, 2) pixels of the model's landmarks with its poses and the given codes (default: its own)."""
    shapes = model.shapes(codes)
    cam = (
        np.einsum("nij,npj->npi", model.head_rotation_world_from_canonical, shapes)
        + model.head_translation_world_from_canonical[:, None]
    )
    return model.camera.focal_px * cam[..., :2] / cam[..., 2:3] + np.array(model.camera.principal_point)


def _figures(model: FaceModel, observed: np.ndarray, track: LandmarkTrack, projected: np.ndarray, rigid: np.ndarray):
    tracked = track.tracked
    error = np.linalg.norm(projected - observed, axis=-1)  # (N, 478)
    coded_error = np.linalg.norm(reproject(model) - observed, axis=-1)
    iod = inter_ocular_px(observed)
    per_frame = error.mean(axis=1)
    rotations = model.head_rotation_world_from_canonical
    step_angles = rotation_angle_deg(rotations[:-1], rotations[1:]) if len(rotations) > 1 else np.zeros(1)
    rotvecs = np.degrees(np.stack([cv2.Rodrigues(r.astype(np.float64))[0][:, 0] for r in rotations]))
    jitter_vs_average = np.linalg.norm(rotvecs - _moving_average(rotvecs), axis=1)
    leaked = []
    for shape in model.identity[None] + model.displacements:
        rotation, _ = rigid_align(model.identity[rigid], shape[rigid])
        leaked.append(rotation_angle_deg(np.eye(3), rotation))
    return (
        {
            "tracked_ratio": float(tracked.mean()),
            "reprojection_px_mean": float(error[tracked].mean()),
            "reprojection_px_p95": float(np.percentile(error[tracked], 95)),
            "reprojection_pct_iod_mean": float((error[tracked] / iod[tracked, None]).mean() * 100),
            "reprojection_pct_iod_p95": float(np.percentile(error[tracked] / iod[tracked, None], 95) * 100),
            "reprojection_coded_px_mean": float(coded_error[tracked].mean()),
            "inter_ocular_px": float(np.median(iod)),
            "pose_jitter_deg_per_frame": float(step_angles.mean()),
            "pose_jitter_deg_vs_5frame_average": float(jitter_vs_average.mean()),
            "rotation_leaked_into_displacements_deg": float(np.mean(leaked)),
        },
        per_frame,
    )
