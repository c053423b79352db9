"""The avatar: head and torso fields, per-frame appearance latents, their boxes and occupancy grids, and how a
batch of rays is rendered through them.

Expression control (``NerfConfig.expression_control``):
- ``landmark_warp``: head samples are moved to the neutral face by the frame's landmark displacements
  (``nerf/deformation.py``) before the encoding is read; whitened expression codes enter the MLP gated to the
  mouth and eyes; the appearance latent only shifts colour; occupancy never skips the space around lips and jaw.
- ``code``: the codes, raw, and the appearance latent are plain MLP inputs (the avatar before Dec 2026).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cosavatar_pipeline.face.model import Camera
from cosavatar_pipeline.nerf import cavity, deformation
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import RayBatch
from cosavatar_pipeline.nerf.fields import POSE_DIMS, HeadField, TorsoField, WarpedHeadField
from cosavatar_pipeline.nerf.rays import intersect_box, pixel_directions, to_head_space
from cosavatar_pipeline.nerf.renderer import composite
from cosavatar_pipeline.nerf.sampler import OccupancyGrid, normalise_to_box, stratified_samples

WHITENED_CODE_LIMIT = 3.0
UNSEEN_MOUTH_DENSITY = 50.0  # per cm: the never-seen inside of a mouth is opaque (the back of the head lies beyond)


@dataclass
class FaceSetup:
    """What the warped head field needs from the video's face model."""

    identity: np.ndarray  # (478, 3) mm, the neutral canonical shape
    warp_landmarks: np.ndarray  # (L,) landmark ids that drive the warp
    code_mean: np.ndarray  # (K,) over the training frames
    code_std: np.ndarray  # (K,)
    mouth_interior_rgb: np.ndarray  # (3,) in [0, 1]: what a mouth opened wider than the clip ever did shows inside


class AvatarModel(nn.Module):
    def __init__(
        self,
        config: NerfConfig,
        frame_count: int,
        expression_dims: int,
        head_box: np.ndarray,
        torso_box: np.ndarray,
        face: FaceSetup | None = None,
    ):
        super().__init__()
        self.config = config
        self.expression_dims = expression_dims
        self.warped = config.expression_control == "landmark_warp"
        if self.warped:
            pose_dims = POSE_DIMS if config.head_pose_condition else 0
            self.head = WarpedHeadField(
                config.head_encoding, expression_dims, config.appearance_dims, config.hidden_width, pose_dims
            )
        else:
            self.head = HeadField(config.head_encoding, expression_dims, config.appearance_dims, config.hidden_width)
        self.torso = TorsoField(config.torso_encoding, config.hidden_width)
        self.appearance = nn.Parameter(torch.zeros(frame_count, config.appearance_dims))
        self.register_buffer("head_box", torch.as_tensor(head_box, dtype=torch.float32))
        self.register_buffer("torso_box", torch.as_tensor(torso_box, dtype=torch.float32))
        self.head_occupancy = OccupancyGrid(config.occupancy_resolution, config.occupancy_threshold)
        self.torso_occupancy = OccupancyGrid(config.occupancy_resolution, config.occupancy_threshold)
        if self.warped:
            if face is None:
                raise ValueError("landmark_warp expression control needs the face model's FaceSetup")
            self._set_up_face(face, head_box)

    def _set_up_face(self, face: FaceSetup, head_box: np.ndarray) -> None:
        identity = torch.as_tensor(face.identity, dtype=torch.float32)
        # whitening statistics travel with the avatar, so retargeted codes are read on its own terms
        self.register_buffer("code_mean", torch.as_tensor(face.code_mean, dtype=torch.float32))
        self.register_buffer("code_std", torch.as_tensor(face.code_std, dtype=torch.float32).clamp_min(1e-6))
        if self.config.mouth_cavity_mm > 0:
            self.register_buffer("mouth_interior", torch.as_tensor(face.mouth_interior_rgb, dtype=torch.float32))
        gate_landmarks = identity[torch.as_tensor(deformation.gate_landmark_ids())]
        box = torch.as_tensor(head_box, dtype=torch.float32)
        gates = [deformation.gate_volume(gate_landmarks, box)]
        if self.config.head_pose_condition:
            gates.append(self._pose_gate(face, identity, box))
        # (1, 1 or 2, R, R, R): the code's gate and the pose's, read with one lookup
        self.register_buffer("gates", torch.cat(gates, dim=1), persistent=False)
        keep = identity[torch.as_tensor(deformation.keep_landmark_ids(face.identity))]
        self.head_occupancy.keep_near(keep, box, deformation.KEEP_RADIUS_MM)

    def _pose_gate(self, face: FaceSetup, identity: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """(1, 1, R, R, R): the pose may shape what lies away from the face (hair), never the face the landmarks
        describe nor the inside of the mouth behind it (there the teeth's colour followed the head's turn).
        identity: ``face.identity`` as a tensor."""
        gate = 1 - deformation.gate_volume(identity, box)
        if self.config.mouth_cavity_mm > 0 and self.config.pose_outside_mouth:
            ring = face.identity[list(cavity.INNER_LIP_RING)]
            inside = cavity.interior_volume(ring, face.identity, self.config.mouth_cavity_mm, box, gate.shape[-1])
            gate = gate * (1 - inside)
        return gate

    def encoding_parameters(self) -> list[nn.Parameter]:
        return list(self.head.encoding.parameters()) + list(self.torso.encoding.parameters())

    def network_parameters(self) -> list[nn.Parameter]:
        head_rest = [p for name, p in self.head.named_parameters() if not name.startswith("encoding.")]
        return head_rest + list(self.torso.mlp.parameters()) + [self.appearance]

    def whiten(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes in standard deviations of the training clip, clipped to +-WHITENED_CODE_LIMIT: beyond that the
        residual would extrapolate (the warp carries the motion)."""
        return ((codes - self.code_mean) / self.code_std).clamp(-WHITENED_CODE_LIMIT, WHITENED_CODE_LIMIT)

    def _field_samples(self, evaluate, occupancy, points, depths, hit, box, skip_empty):
        """Evaluate one field at (R, S, 3) points; only in-box, occupied samples (gather, then scatter back).
        evaluate(normalised (P, 3), points (P, 3), ray_of (P,)) -> density (P,), rgb (P, 3)."""
        count = points.shape[1]
        normalised = normalise_to_box(points, box).reshape(-1, 3)
        active = hit[:, None].expand(-1, count).reshape(-1)
        if skip_empty:
            active = active & occupancy.occupied(normalised)
        index = torch.nonzero(active, as_tuple=False)[:, 0]
        density = torch.zeros(active.shape[0], dtype=points.dtype, device=points.device)
        rgb = torch.zeros(active.shape[0], 3, dtype=points.dtype, device=points.device)
        if index.numel():
            sample_density, sample_rgb = evaluate(normalised[index], points.reshape(-1, 3)[index], index // count)
            density = density.index_put((index,), sample_density)
            rgb = rgb.index_put((index,), sample_rgb)
        shape = depths.shape
        return density.view(shape), rgb.view(*shape, 3), int(index.numel())

    def _head_evaluator(self, rays: RayBatch, appearance: torch.Tensor):
        if not self.warped:
            condition = torch.cat([rays.expression, appearance], dim=-1)
            return lambda normalised, points, ray_of: self.head(normalised, condition[ray_of])
        codes = self.whiten(rays.expression)
        pose = rays.pose_condition

        def evaluate(normalised, neutral_points, ray_of):
            return self.head(
                normalised, self._warped_condition(normalised, codes[ray_of], pose[ray_of]), appearance[ray_of]
            )

        return evaluate

    def _warped_condition(self, normalised: torch.Tensor, codes: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """The warped head field's condition at (P, 3) normalised points: whitened codes (P, K) gated to the mouth
        and eyes, then, when the field reads it, the pose (P, 6) gated to what lies away from the face."""
        gates = deformation.sample_gate(self.gates, normalised)
        if not self.config.head_pose_condition:
            return gates * codes
        return torch.cat([gates[:, :1] * codes, gates[:, 1:] * pose], dim=-1)

    def render_rays(
        self,
        rays: RayBatch,
        camera: Camera,
        warp: deformation.WarpFields | None = None,
        appearance: torch.Tensor | None = None,
        jitter: bool = False,
        skip_empty: bool = True,
    ) -> dict:
        """camera: the pinhole camera at the frames' resolution. warp: the frames' warp fields (``landmark_warp``),
        indexed by ``rays.warp_index``. appearance: (R, A) latents; default: the trained latent of each ray's frame."""
        directions = pixel_directions(rays.pixels, camera.focal_px, camera.principal_point)
        origins = torch.zeros_like(directions)
        if appearance is None:
            appearance = self.appearance[rays.frame]
        head_origins, head_directions = to_head_space(origins, directions, rays.rotation, rays.translation)
        head_depths, head_widths, head_points, head_hit = _ray_samples(
            head_origins, head_directions, self.head_box, self.config.head_samples, jitter
        )
        unseen_mouth = None
        if self.warped:
            if warp is None:
                raise ValueError("a landmark_warp avatar renders with the frames' WarpFields")
            head_points, unseen_mouth = deformation.warp_to_neutral(head_points, warp, rays.warp_index)
        head = self._field_samples(
            self._head_evaluator(rays, appearance),
            self.head_occupancy,
            head_points,
            head_depths,
            head_hit,
            self.head_box,
            skip_empty,
        )
        if unseen_mouth is not None:
            head = self._fill_unseen_mouth(head, unseen_mouth * head_hit[:, None])
        torso_depths, torso_widths, torso_points, torso_hit = _ray_samples(
            origins, directions, self.torso_box, self.config.torso_samples, jitter
        )
        pose = rays.pose_condition
        torso = self._field_samples(
            lambda normalised, points, ray_of: self.torso(normalised, pose[ray_of]),
            self.torso_occupancy,
            torso_points,
            torso_depths,
            torso_hit,
            self.torso_box,
            skip_empty,
        )
        # head-space and camera-space depths along the same ray agree: the pose is rigid and keeps lengths
        output = composite(
            torch.cat([head_depths, torso_depths], dim=1),
            torch.cat([head_widths, torso_widths], dim=1),
            torch.cat([head[0], torso[0]], dim=1),
            torch.cat([head[1], torso[1]], dim=1),
            torch.cat([torch.ones_like(head_depths), torch.zeros_like(torso_depths)], dim=1),
            rays.background,
        )
        output["evaluated_samples"] = head[2] + torso[2]
        return output

    def _fill_unseen_mouth(self, head: tuple, unseen: torch.Tensor) -> tuple:
        """Samples inside a part of the mouth no training frame opened take the clip's mouth-interior colour."""
        density, rgb, evaluated = head
        density = torch.lerp(density, torch.full_like(density, UNSEEN_MOUTH_DENSITY), unseen)
        rgb = torch.lerp(rgb, self.mouth_interior.expand_as(rgb), unseen[..., None])
        return density, rgb, evaluated

    @torch.no_grad()
    def refresh_occupancy(self, dataset, rng: np.random.Generator) -> None:
        """Probe one random point per cell with a random training frame's conditioning (the head field in its
        neutral space: the points need no warp)."""
        frame = int(rng.choice(dataset.train))
        device = self.head_box.device
        code = torch.from_numpy(dataset.expressions[frame]).to(device)
        latent = self.appearance[frame]
        pose = torch.from_numpy(dataset.pose_conditions[frame]).to(device)
        for field, grid in ((self.head, self.head_occupancy), (self.torso, self.torso_occupancy)):
            points = grid.probe_points().to(device)
            densities = []
            for chunk in points.split(65536):
                count = chunk.shape[0]
                if field is self.torso:
                    densities.append(field(chunk, pose.expand(count, -1))[0])
                elif self.warped:
                    condition = self._warped_condition(
                        chunk, self.whiten(code).expand(count, -1), pose.expand(count, -1)
                    )
                    densities.append(field(chunk, condition, latent.expand(count, -1))[0])
                else:
                    densities.append(field(chunk, torch.cat([code, latent]).expand(chunk.shape[0], -1))[0])
            grid.update(torch.cat(densities))


def _ray_samples(origins, directions, box, count, jitter):
    """Stratified samples of R rays inside a box: depths, widths (R, S), points (R, S, 3), hit (R,)."""
    near, far, hit = intersect_box(origins, directions, box[0], box[1])
    depths, widths = stratified_samples(near, far, count, jitter)
    points = origins[:, None] + depths[..., None] * directions[:, None]
    return depths, widths, points, hit
