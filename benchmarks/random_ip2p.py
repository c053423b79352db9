"""InstructPix2Pix pipelines with random weights, built from configs, for running the real editing code where no
weights can be downloaded: ``sd15`` has Stable Diffusion 1.5's architecture and sizes (UNet with 8 input channels
and 768-d cross-attention, the 4-level VAE, CLIP ViT-L/14's text encoder); ``tiny`` is a few-megabyte stand-in for
tests. Their edits are noise: they prove the code path runs at a size, never anything about edit quality."""

from __future__ import annotations

import json
from pathlib import Path

import torch

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def letter_tokenizer(folder: Path, max_length: int):
    """A CLIP tokenizer over single letters (the real vocabulary is a download); ids stay inside any text
    encoder's embedding table."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"] + list(LETTERS) + [c + "</w>" for c in LETTERS]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length, pad_token="!"
    )


# Keyword arguments of each part's constructor or config, per size; the library's UNet defaults are SD 1.x's blocks,
# widths and heads
SIZES: dict[str, dict[str, dict]] = {
    "sd15": {
        "unet": {"sample_size": 64, "in_channels": 8, "out_channels": 4, "cross_attention_dim": 768},
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "latent_channels": 4,
            "block_out_channels": (128, 256, 512, 512),
            "layers_per_block": 2,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "sample_size": 512,
        },
        "text_encoder": {
            "vocab_size": 49408,
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "max_position_embeddings": 77,
            "hidden_act": "quick_gelu",
        },
    },
    "tiny": {
        "unet": {
            "sample_size": 8,
            "in_channels": 8,
            "out_channels": 4,
            "layers_per_block": 1,
            "block_out_channels": (32, 64),
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
            "cross_attention_dim": 32,
            "attention_head_dim": 4,
            "norm_num_groups": 16,
        },
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "latent_channels": 4,
            "block_out_channels": (16, 32),
            "norm_num_groups": 16,
            "down_block_types": ("DownEncoderBlock2D",) * 2,
            "up_block_types": ("UpDecoderBlock2D",) * 2,
        },
        "text_encoder": {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "vocab_size": len(LETTERS) * 2 + 3,
            "max_position_embeddings": 16,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 2,
        },
    },
}


def random_ip2p_pipeline(size: str, folder: Path, seed: int = 0):
    """A StableDiffusionInstructPix2PixPipeline of ``size`` (``sd15`` or ``tiny``) with random weights; the
    tokenizer's files go to ``folder``."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    parts = SIZES[size]
    text_config = CLIPTextConfig(**parts["text_encoder"])
    return StableDiffusionInstructPix2PixPipeline(
        vae=AutoencoderKL(**parts["vae"]),
        text_encoder=CLIPTextModel(text_config),
        tokenizer=letter_tokenizer(Path(folder), text_config.max_position_embeddings),
        unet=UNet2DConditionModel(**parts["unet"]),
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def parameter_counts(pipeline) -> dict[str, int]:
    return {
        name: sum(p.numel() for p in getattr(pipeline, name).parameters()) for name in ("unet", "vae", "text_encoder")
    }
