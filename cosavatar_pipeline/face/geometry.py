"""Rotations, pinhole projection and rigid alignment (OpenCV axes: x right, y down, z forward).

Head pose convention everywhere: ``X_cam = R @ X_head + t`` (world/camera from canonical head), ``uv = f X/Z + c``
with pixel centres at i + 0.5.
"""

from __future__ import annotations

import numpy as np
import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) matrices (Rodrigues), differentiable at zero."""
    angle = axis_angle.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    axis = axis_angle / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(cross)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def matrix_to_axis_angle(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) via OpenCV's Rodrigues, frame by frame."""
    import cv2

    flat = rotation.reshape(-1, 3, 3)
    return np.stack([cv2.Rodrigues(np.ascontiguousarray(m, dtype=np.float64))[0][:, 0] for m in flat]).reshape(
        *rotation.shape[:-2], 3
    )


def project(points_cam: torch.Tensor, focal: float, principal_point: tuple[float, float]) -> torch.Tensor:
    """(..., 3) camera-space points -> (..., 2) pixels."""
    z = points_cam[..., 2:3].clamp_min(1e-6)
    centre = torch.tensor(principal_point, dtype=points_cam.dtype, device=points_cam.device)
    return focal * points_cam[..., :2] / z + centre


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle of R_a^T R_b, degrees; (..., 3, 3) inputs."""
    relative = np.swapaxes(a, -1, -2) @ b
    cos = (np.trace(relative, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def mean_rotation(rotations: np.ndarray) -> np.ndarray:
    """Chordal L2 mean of (N, 3, 3) rotations: the rotation nearest their element-wise mean."""
    u, _, vt = np.linalg.svd(rotations.mean(axis=0))
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    return u @ vt


def rigid_align(
    source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t minimising sum w |R source + t - target|^2 (Kabsch); (P, 3) inputs."""
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_t = w @ source, w @ target
    covariance = ((target - mu_t) * w[:, None]).T @ (source - mu_s)
    u, _, vt = np.linalg.svd(covariance)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, 1.0, d]) @ vt
    return rotation, mu_t - rotation @ mu_s
