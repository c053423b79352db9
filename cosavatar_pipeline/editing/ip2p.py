"""InstructPix2Pix as the Instruct-NeRF2NeRF edit: noise the CURRENT RENDER to a random level, then denoise it
conditioned on the prompt and on the ORIGINAL frame (classifier-free guidance on both).

Weights load only from a local directory or the Hugging Face cache (``local_files_only``): nothing is downloaded
at run time. fp16 on CUDA, fp32 on CPU.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from cosavatar_pipeline.errors import CosavatarError

DEFAULT_MODEL = "timbrooks/instruct-pix2pix"


class EditorUnavailable(CosavatarError):
    """The editor's weights are not on this machine."""


@dataclass(frozen=True)
class IP2PSettings:
    model: str = DEFAULT_MODEL  # a local directory, or a Hugging Face repo id found in the local cache
    guidance_scale: float = 7.5  # text
    image_guidance_scale: float = 1.5  # original frame
    steps: int = 20
    noise_lower: float = 0.02
    noise_upper: float = 0.98

    def as_dict(self) -> dict:
        return asdict(self)


def hub_cache() -> str:
    return os.environ.get("HF_HUB_CACHE") or os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")


def find_weights(settings: IP2PSettings) -> str | None:
    """Where the weights are (a local directory or a cached snapshot), or None; reads no weights."""
    if os.path.isdir(settings.model):
        return settings.model if os.path.exists(os.path.join(settings.model, "model_index.json")) else None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id=settings.model, filename="model_index.json")
    except ValueError:  # not a repo id
        return None
    return os.path.dirname(found) if isinstance(found, str) else None


def missing_weights_message(settings: IP2PSettings, detail: str = "") -> str:
    return (
        f"InstructPix2Pix weights not found: looked for {settings.model!r} as a local directory and in the Hugging "
        f"Face cache ({hub_cache()}); nothing is downloaded at run time. Provide them by copying a downloaded "
        f"'{DEFAULT_MODEL}' snapshot into that cache, or point the editor's model setting at a directory saved "
        f"with save_pretrained" + (f" ({detail})" if detail else "")
    )


def load_pipeline(settings: IP2PSettings, device: torch.device):
    from diffusers import DDIMScheduler, StableDiffusionInstructPix2PixPipeline

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    try:
        pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(
            settings.model, torch_dtype=dtype, local_files_only=True, safety_checker=None, requires_safety_checker=False
        )
    except (OSError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        raise EditorUnavailable(missing_weights_message(settings, detail)) from None
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


class InstructPix2PixEditor:
    name = "ip2p"

    def __init__(self, settings: IP2PSettings = IP2PSettings(), device: torch.device | str = "cpu"):
        self.settings = settings
        self.device = torch.device(device)
        self.pipeline = load_pipeline(settings, self.device)

    def _to_latents(self, image: np.ndarray, sample: bool, generator: torch.Generator) -> torch.Tensor:
        vae = self.pipeline.vae
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].to(self.device, vae.dtype) / 127.5 - 1
        distribution = vae.encode(pixels).latent_dist
        return distribution.sample(generator) * vae.config.scaling_factor if sample else distribution.mode()

    @torch.no_grad()
    def edit(self, render: np.ndarray, original: np.ndarray, prompt: str, mask: np.ndarray, seed: int) -> np.ndarray:
        pipe, settings = self.pipeline, self.settings
        generator = torch.Generator(device="cpu").manual_seed(seed)
        height, width = render.shape[:2]
        # the UNet needs sides that are multiples of 8 latent pixels
        multiple = pipe.vae_scale_factor * 8
        work_size = (max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple))
        latents = self._to_latents(_resized(render, work_size), sample=True, generator=generator)
        image_latents = self._to_latents(_resized(original, work_size), sample=False, generator=generator)

        tokens = pipe.tokenizer(
            [prompt, ""], padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        text, empty = pipe.text_encoder(tokens.input_ids.to(self.device))[0].to(latents.dtype).chunk(2)

        # Denoise `steps` DDIM steps starting from timestep T = noise level x training timesteps.
        scheduler = pipe.scheduler
        level = float(np.random.default_rng(seed).uniform(settings.noise_lower, settings.noise_upper))
        scheduler.set_timesteps(max(settings.steps, round(settings.steps / max(level, 1e-3))), device=self.device)
        timesteps = scheduler.timesteps[-settings.steps :]
        noise = torch.randn(latents.shape, generator=generator).to(self.device, latents.dtype)
        latents = scheduler.add_noise(latents, noise, timesteps[:1])
        for t in timesteps:
            model_input = torch.cat([latents] * 3)
            conditioning = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
            prediction = pipe.unet(
                torch.cat([model_input, conditioning], dim=1), t, encoder_hidden_states=torch.cat([text, empty, empty])
            ).sample
            with_text, with_image, unconditional = prediction.chunk(3)
            guided = (
                unconditional
                + settings.guidance_scale * (with_text - with_image)
                + settings.image_guidance_scale * (with_image - unconditional)
            )
            latents = scheduler.step(guided, t, latents).prev_sample
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        image = ((decoded[0].float().clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).round().byte().cpu().numpy()
        self.last_noise_level = level
        return _resized(image, (width, height))


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (image.shape[1], image.shape[0]) == size:
        return np.ascontiguousarray(image)
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
