"""InstructPix2Pix as the Instruct-NeRF2NeRF edit: noise the CURRENT RENDER to a random level, then denoise it
conditioned on the prompt and on the ORIGINAL frame (classifier-free guidance on both).

Weights load only from a local directory or the Hugging Face cache (``local_files_only``): nothing is downloaded
at run time. fp16 on CUDA, fp32 on CPU.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from cosavatar_pipeline.editing.config import DEFAULT_MODEL, IP2PSettings
from cosavatar_pipeline.errors import CosavatarError


class EditorUnavailable(CosavatarError):
    """The editor's weights are not on this machine."""


def default_batch_size(device: torch.device) -> int:
    """Frames per UNet call: one on a CPU; on a GPU as many as its memory comfortably holds at 512 px in fp16
    (each frame is three UNet samples: text, image and unconditional guidance)."""
    if device.type != "cuda":
        return 1
    gibibytes = torch.cuda.get_device_properties(device).total_memory / 2**30
    return 8 if gibibytes >= 40 else 4 if gibibytes >= 20 else 2


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
    from diffusers import StableDiffusionInstructPix2PixPipeline

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    try:
        pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(
            settings.model, dtype=dtype, local_files_only=True, safety_checker=None, requires_safety_checker=False
        )
    except (OSError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        raise EditorUnavailable(missing_weights_message(settings, detail)) from None
    return pipeline.to(device)


def prepare_pipeline(pipeline, batch_size: int, resolution: int):
    """DDIM sampling as Instruct-NeRF2NeRF runs it (Stable Diffusion 1.x's DDIM settings: no clipping of the
    predicted latents, the last step to alpha_0), PyTorch's fused attention (SDPA), and VAE slicing (one frame at
    a time through the VAE) for batches, tiling above 1024 px where a whole latent would not fit."""
    from diffusers import DDIMScheduler
    from diffusers.models.attention_processor import AttnProcessor2_0

    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config, clip_sample=False, set_alpha_to_one=False)
    pipeline.unet.set_attn_processor(AttnProcessor2_0())
    pipeline.vae.set_attn_processor(AttnProcessor2_0())
    if batch_size > 1:
        pipeline.vae.enable_slicing()
    if resolution > 1024:
        pipeline.vae.enable_tiling()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


class InstructPix2PixEditor:
    """The render of each frame, noised to the frame's own random level, denoised in ``settings.steps`` DDIM steps;
    frames are batched, each with its own generator, noise level and timesteps, so its edit does not depend on the
    batch. ``pipeline``: an already built pipeline (benchmarks build one from configs); default: load the weights."""

    name = "ip2p"

    def __init__(self, settings: IP2PSettings = IP2PSettings(), device: torch.device | str = "cpu", pipeline=None):
        self.settings = settings
        self.device = torch.device(device)
        self.resolution = settings.edit_resolution
        self.batch_size = settings.batch_size or default_batch_size(self.device)
        self.pipeline = prepare_pipeline(
            pipeline or load_pipeline(settings, self.device), self.batch_size, self.resolution
        )
        self._embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def noise_level(self, seed: int) -> float:
        return float(np.random.default_rng(seed).uniform(self.settings.noise_lower, self.settings.noise_upper))

    @torch.no_grad()
    def edit(
        self, renders: np.ndarray, originals: np.ndarray, prompt: str, masks: np.ndarray, seeds: np.ndarray
    ) -> np.ndarray:
        text, empty = self._prompt_embeddings(prompt)
        step = self.batch_size
        batches = [
            self._edit_batch(renders[i : i + step], originals[i : i + step], seeds[i : i + step], text, empty)
            for i in range(0, len(renders), step)
        ]
        return np.concatenate(batches)

    def _prompt_embeddings(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, T, D) embeddings of the prompt and of the empty prompt, computed once per prompt."""
        if prompt not in self._embeddings:
            pipe = self.pipeline
            tokens = pipe.tokenizer(
                [prompt, ""],
                padding="max_length",
                max_length=pipe.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            )
            encoded = pipe.text_encoder(tokens.input_ids.to(self.device))[0].to(pipe.unet.dtype)
            self._embeddings[prompt] = tuple(encoded.chunk(2))
        return self._embeddings[prompt]

    def _schedule(self, seed: int):
        """A DDIM scheduler whose last ``steps`` timesteps start at the frame's noise level x training timesteps."""
        from diffusers import DDIMScheduler

        steps = self.settings.steps
        scheduler = DDIMScheduler.from_config(self.pipeline.scheduler.config)
        scheduler.set_timesteps(max(steps, round(steps / max(self.noise_level(seed), 1e-3))), device=self.device)
        return scheduler

    def _edit_batch(self, renders, originals, seeds, text, empty) -> np.ndarray:
        pipe, settings = self.pipeline, self.settings
        height, width = renders.shape[1:3]
        work_size = _work_size(width, height, pipe.vae_scale_factor * 8)
        generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]
        latents = self._to_latents([_resized(r, work_size) for r in renders], generators)
        image_latents = self._to_latents([_resized(o, work_size) for o in originals], None)
        schedulers = [self._schedule(int(seed)) for seed in seeds]
        timesteps = torch.stack([s.timesteps[-settings.steps :] for s in schedulers], dim=1)  # (steps, B)
        noise = torch.cat([torch.randn((1, *latents.shape[1:]), generator=g) for g in generators]).to(
            self.device, latents.dtype
        )
        latents = torch.cat(
            [s.add_noise(latents[i : i + 1], noise[i : i + 1], timesteps[:1, i]) for i, s in enumerate(schedulers)]
        )
        count = len(renders)
        conditioning = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
        hidden = torch.cat([text.expand(count, -1, -1), empty.expand(count, -1, -1), empty.expand(count, -1, -1)])
        for t in timesteps:
            prediction = pipe.unet(
                torch.cat([torch.cat([latents] * 3), conditioning], dim=1), t.repeat(3), encoder_hidden_states=hidden
            ).sample
            with_text, with_image, unconditional = prediction.chunk(3)
            guided = (
                unconditional
                + settings.guidance_scale * (with_text - with_image)
                + settings.image_guidance_scale * (with_image - unconditional)
            )
            latents = torch.cat(
                [s.step(guided[i : i + 1], t[i], latents[i : i + 1]).prev_sample for i, s in enumerate(schedulers)]
            )
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        images = ((decoded.float().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).round().byte().cpu().numpy()
        return np.stack([_resized(image, (width, height)) for image in images])

    def _to_latents(self, images: list[np.ndarray], generators: list[torch.Generator] | None) -> torch.Tensor:
        """(B, 4, h, w) scaled latents: sampled with each frame's generator, or the distribution's mode."""
        vae = self.pipeline.vae
        pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(self.device, vae.dtype) / 127.5 - 1
        distribution = vae.encode(pixels).latent_dist
        if generators is None:
            return distribution.mode()
        return distribution.sample(generators) * vae.config.scaling_factor


def _work_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The UNet needs sides that are multiples of 8 latent pixels."""
    return max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (image.shape[1], image.shape[0]) == size:
        return np.ascontiguousarray(image)
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
