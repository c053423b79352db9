"""The avatar: head and torso fields, per-frame appearance latents, their boxes and occupancy grids, and how a
batch of rays is rendered through them."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cosavatar_pipeline.face.model import Camera
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import RayBatch
from cosavatar_pipeline.nerf.fields import HeadField, TorsoField
from cosavatar_pipeline.nerf.rays import intersect_box, pixel_directions, to_head_space
from cosavatar_pipeline.nerf.renderer import composite
from cosavatar_pipeline.nerf.sampler import OccupancyGrid, normalise_to_box, stratified_samples


class AvatarModel(nn.Module):
    def __init__(self, config: NerfConfig, frame_count: int, expression_dims: int, head_box: np.ndarray, torso_box: np.ndarray):
        super().__init__()
        self.config = config
        self.expression_dims = expression_dims
        self.head = HeadField(config.head_encoding, expression_dims, config.appearance_dims, config.hidden_width)
        self.torso = TorsoField(config.torso_encoding, config.hidden_width)
        self.appearance = nn.Parameter(torch.zeros(frame_count, config.appearance_dims))
        self.register_buffer("head_box", torch.as_tensor(head_box, dtype=torch.float32))
        self.register_buffer("torso_box", torch.as_tensor(torso_box, dtype=torch.float32))
        self.head_occupancy = OccupancyGrid(config.occupancy_resolution, config.occupancy_threshold)
        self.torso_occupancy = OccupancyGrid(config.occupancy_resolution, config.occupancy_threshold)

    def encoding_parameters(self) -> list[nn.Parameter]:
        return list(self.head.encoding.parameters()) + list(self.torso.encoding.parameters())

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.head.mlp.parameters()) + list(self.torso.mlp.parameters()) + [self.appearance]

    def _field_samples(self, field, occupancy, origins, directions, box, count, condition, jitter, skip_empty):
        """Sample one field along the rays; evaluate only in-box, occupied samples (gather, then scatter back)."""
        near, far, hit = intersect_box(origins, directions, box[0], box[1])
        depths, widths = stratified_samples(near, far, count, jitter)
        points = origins[:, None] + depths[..., None] * directions[:, None]
        normalised = normalise_to_box(points, box).reshape(-1, 3)
        active = hit[:, None].expand(-1, count).reshape(-1)
        if skip_empty:
            active = active & occupancy.occupied(normalised)
        index = torch.nonzero(active, as_tuple=False)[:, 0]
        density = torch.zeros(active.shape[0], dtype=points.dtype, device=points.device)
        rgb = torch.zeros(active.shape[0], 3, dtype=points.dtype, device=points.device)
        if index.numel():
            ray_of = index // count
            sample_density, sample_rgb = field(normalised[index], condition[ray_of])
            density = density.index_put((index,), sample_density)
            rgb = rgb.index_put((index,), sample_rgb)
        shape = depths.shape
        return depths, widths, density.view(shape), rgb.view(*shape, 3), int(index.numel())

    def render_rays(
        self,
        rays: RayBatch,
        camera: Camera,
        appearance: torch.Tensor | None = None,
        jitter: bool = False,
        skip_empty: bool = True,
    ) -> dict:
        """camera: the pinhole camera at the frames' resolution. appearance: (R, A) latents; default: the trained
        latent of each ray's frame."""
        directions = pixel_directions(rays.pixels, camera.focal_px, camera.principal_point)
        origins = torch.zeros_like(directions)
        if appearance is None:
            appearance = self.appearance[rays.frame]
        head_origins, head_directions = to_head_space(origins, directions, rays.rotation, rays.translation)
        head = self._field_samples(
            self.head, self.head_occupancy, head_origins, head_directions, self.head_box, self.config.head_samples,
            torch.cat([rays.expression, appearance], dim=-1), jitter, skip_empty,
        )
        torso = self._field_samples(
            self.torso, self.torso_occupancy, origins, directions, self.torso_box, self.config.torso_samples,
            rays.pose_condition, jitter, skip_empty,
        )
        # head-space and camera-space depths along the same ray agree: the pose is rigid and keeps lengths
        depths = torch.cat([head[0], torso[0]], dim=1)
        is_head = torch.cat([torch.ones_like(head[0]), torch.zeros_like(torso[0])], dim=1)
        output = composite(
            depths,
            torch.cat([head[1], torso[1]], dim=1),
            torch.cat([head[2], torso[2]], dim=1),
            torch.cat([head[3], torso[3]], dim=1),
            is_head,
            rays.background,
        )
        output["evaluated_samples"] = head[4] + torso[4]
        return output

    @torch.no_grad()
    def refresh_occupancy(self, dataset, rng: np.random.Generator) -> None:
        """Probe one random point per cell with a random training frame's conditioning."""
        frame = int(rng.choice(dataset.train))
        for field, grid, condition in (
            (self.head, self.head_occupancy, torch.cat([torch.from_numpy(dataset.expressions[frame]), self.appearance[frame]])),
            (self.torso, self.torso_occupancy, torch.from_numpy(dataset.pose_conditions[frame])),
        ):
            points = grid.probe_points().to(self.head_box.device)
            density = torch.cat(
                [field(chunk, condition.to(chunk.device).expand(chunk.shape[0], -1))[0] for chunk in points.split(65536)]
            )
            grid.update(density)
