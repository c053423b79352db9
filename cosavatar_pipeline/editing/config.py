"""Editing settings: the defaults of the iterative dataset update (what each quality preset changes is in
``presets.PRESETS``) and of InstructPix2Pix, with the IP2P settings per named preset an edit selects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from cosavatar_pipeline.errors import InputError

DEFAULT_MODEL = "timbrooks/instruct-pix2pix"
# K: the dataset-update + fine-tune rounds in the asset graph. An edit runs 1..K of them (``EditSpec.rounds``); the
# graph itself never changes, so every process of a deployment serves the same one.
EDIT_ROUNDS = 3


@dataclass(frozen=True)
class EditRoundConfig:
    feather_fraction: float = 1 / 64  # feather radius of the blend mask, as a fraction of the frame side
    growth_fraction: float = 0.06  # how far (fraction of the side) the edited image's region may extend the original's
    finetune_steps: int = 400
    rays_per_step: int | None = None  # None: the avatar's own
    learning_rate_scale: float = 1.0  # of the avatar's learning rates
    checkpoint_every: int = 100
    evaluation_frames: int = 16  # training frames the fine-tuned avatar is rendered at for its figures

    def feather_px(self, size: int) -> float:
        return self.feather_fraction * size

    def growth_px(self, size: int) -> int:
        return round(self.growth_fraction * size)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IP2PSettings:
    model: str = DEFAULT_MODEL  # a local directory, or a Hugging Face repo id found in the local cache
    guidance_scale: float = 7.5  # text
    image_guidance_scale: float = 1.5  # original frame
    steps: int = 20
    noise_lower: float = 0.02
    noise_upper: float = 0.98
    edit_resolution: int = 512  # the square side frames are edited at (Stable Diffusion 1.5 is trained at 512)
    batch_size: int | None = None  # frames per UNet call; None: ``default_batch_size`` of the device

    def __post_init__(self):
        if self.edit_resolution < 64 or self.edit_resolution % 64:
            raise InputError("edit_resolution", f"is {self.edit_resolution}; it must be a multiple of 64 (e.g. 512)")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError("batch_size", f"is {self.batch_size}; it must be at least 1")
        if not 0 < self.noise_lower <= self.noise_upper < 1:
            raise InputError("noise levels", f"need 0 < lower <= upper < 1, got {self.noise_lower}..{self.noise_upper}")

    def as_dict(self) -> dict:
        return asdict(self)


# Named settings an edit selects (``EditSpec.ip2p_settings``); each from the code of the method it is named after.
IP2P_SETTING_PRESETS: dict[str, IP2PSettings] = {
    # Instruct-NeRF2NeRF's defaults (nerfstudio's in2n pipeline): the edit CosAvatar builds on
    "in2n": IP2PSettings(),
    # PortraitGen's IP2P editor defaults (USTC3DV/PortraitGen-code, finetune_module/ip2p_editor.py): fewer steps
    # from a higher, narrower noise range, so every edit starts far from the render and lands in fewer steps
    "portraitgen": IP2PSettings(steps=15, noise_lower=0.70, noise_upper=0.98),
}
DEFAULT_IP2P_SETTINGS = "in2n"


def ip2p_settings(preset: str = DEFAULT_IP2P_SETTINGS, **overrides) -> IP2PSettings:
    """A named preset with ``overrides`` (fields set to None keep the preset's value)."""
    if preset not in IP2P_SETTING_PRESETS:
        raise InputError(f"ip2p settings {preset!r}", f"unknown; choose one of {sorted(IP2P_SETTING_PRESETS)}")
    return replace(IP2P_SETTING_PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
