"""NeRF settings and their defaults; what each quality preset changes is in ``presets.PRESETS``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class EncodingConfig:
    kind: str = "triplane"  # triplane | hashgrid
    channels: int = 16
    resolution: int = 128  # tri-plane side
    # hash grid only
    levels: int = 12
    features_per_level: int = 2
    log2_table_size: int = 17
    base_resolution: int = 16
    max_resolution: int = 512


@dataclass(frozen=True)
class NerfConfig:
    head_encoding: EncodingConfig = field(default_factory=EncodingConfig)
    torso_encoding: EncodingConfig = field(default_factory=lambda: EncodingConfig(channels=8, resolution=64))
    hidden_width: int = 64
    appearance_dims: int = 8
    # landmark_warp: head-space points are moved to the neutral face by the landmarks, plus a residual of whitened
    # codes gated to the mouth and eyes (nerf/deformation.py). code: the codes, raw, into the MLP (before Dec 2026).
    expression_control: str = "landmark_warp"
    expression_dims: int = 32  # uses at most this many of the face model's codes
    expression_variance: float = 0.95  # landmark_warp: the fewest components explaining this share of the clip's
    appearance_weight: float = 1.0  # landmark_warp: L2 penalty on the per-frame (colour-only) appearance latents
    mouth_cavity_mm: float = 25.0  # landmark_warp: how far the open mouth's inside is pushed back (0: stretched lips)
    eyelid_field: bool = True  # landmark_warp: a fine warp around the lids, so blinks and winks close the eye
    # landmark_warp: the head field also reads the head pose (as the torso does), so hair can hang by gravity as the
    # head turns and tilts; the warp only moves the face
    head_pose_condition: bool = True
    pose_outside_mouth: bool = True  # landmark_warp: ... but never inside the open mouth (nerf/cavity.py)
    mouth_ray_fraction: float = 0.2  # of each batch, from a box around lips and jaw (open mouths drawn more often)
    mouth_loss_weight: float = 2.5  # photometric weight of those rays
    head_samples: int = 32
    torso_samples: int = 16
    rays_per_step: int = 2048
    person_ray_fraction: float = 0.8
    steps: int = 1500
    learning_rate: float = 1e-2
    mlp_learning_rate: float = 2e-3
    opacity_weight: float = 0.1
    head_split_weight: float = 0.05
    occupancy_resolution: int = 48
    occupancy_warmup_steps: int = 200
    occupancy_update_every: int = 16
    occupancy_threshold: float = 0.01  # density (per cm) under which a cell is skipped
    holdout_every: int = 10  # every 10th frame is held out for evaluation (interpolation) ...
    holdout_segment_seconds: float = (
        1.2  # ... and one contiguous segment covering most mouth openings (new expressions)
    )
    checkpoint_every: int = 250
    log_every: int = 25
    seed: int = 0
    threads: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "NerfConfig":
        values = dict(values)
        # avatars saved before expression control existed were trained with the codes as plain MLP inputs
        values.setdefault("expression_control", "code")
        values.setdefault("mouth_cavity_mm", 0.0)  # and those saved before the mouth cavity without one
        values.setdefault("head_pose_condition", False)  # or before the head field read the pose
        values.setdefault("pose_outside_mouth", False)  # or read it inside the mouth (before Dec 3 2026)
        values.setdefault("eyelid_field", False)  # or warped the lids with the coarse field only (before Dec 4)
        values["head_encoding"] = EncodingConfig(**values["head_encoding"])
        values["torso_encoding"] = EncodingConfig(**values["torso_encoding"])
        return cls(**values)


def code_conditioning(config: NerfConfig) -> NerfConfig:
    """The conditioning used before landmark warping (raw codes into the MLP, no mouth rays, interleaved hold-out
    only in training), kept as the benchmark's baseline and to load avatars saved then."""
    return replace(config, expression_control="code", mouth_ray_fraction=0.0)
