"""Diffusion models with RANDOM weights in the real diffusers/transformers classes: the tiny
config the tests use, and the full SD-Turbo architecture for speed (speed does not depend on
the weights). Never a model to look at: what they draw is noise.

The SD-Turbo config is written from the published stabilityai/sd-turbo folder (the SD 2.1
base architecture at 512x512: UNet 320/640/1280/1280 with linear-projection attention and
1024-wide cross attention, the SD autoencoder, the OpenCLIP ViT-H text tower, Euler with
trailing timesteps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

#: Token length of the tiny tokenizer (the real CLIP one is 77).
TINY_TOKENS = 16


@dataclass
class DiffusionParts:
    unet: nn.Module
    vae: nn.Module
    text_encoder: nn.Module
    tokenizer: object
    scheduler: object


def write_tokenizer(folder: Path, max_length: int) -> object:
    """A CLIP BPE tokenizer written here (printable ASCII, a few merges, CLIP's special
    tokens), saved to ``folder``; returns it."""
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(33, 127)]
    vocab: dict[str, int] = {}
    for token in [*chars, *(c + "</w>" for c in chars), "th", "the</w>", "<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    source = folder.parent / (folder.name + "-source")
    source.mkdir(parents=True, exist_ok=True)
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\n")
    tokenizer = CLIPTokenizer(str(source / "vocab.json"), str(source / "merges.txt"), model_max_length=max_length)
    tokenizer.save_pretrained(folder)
    return tokenizer


def euler_trailing(prediction: str = "epsilon"):
    """sd-turbo's scheduler: Euler over the SD noise schedule, trailing timesteps."""
    import diffusers

    return diffusers.EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
        prediction_type=prediction,
    )


def tiny_parts(tokenizer_dir: Path, seed: int = 0, prediction: str = "epsilon") -> DiffusionParts:
    """A tiny SD-class model (a few hundred thousand parameters) with random weights."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    # Four blocks: 8 pixels per latent cell, as every SD autoencoder has.
    vae = diffusers.AutoencoderKL(
        block_out_channels=(16, 16, 32, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            pad_token_id=1,
            vocab_size=200,
            max_position_embeddings=TINY_TOKENS,
        )
    )
    return DiffusionParts(
        unet, vae, text_encoder, write_tokenizer(tokenizer_dir, TINY_TOKENS), euler_trailing(prediction)
    )


def tiny_autoencoder():
    """A tiny AutoencoderTiny (TAESD layout, fewer channels) with random weights."""
    import diffusers

    return diffusers.AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )


def sd_turbo_parts(tokenizer_dir: Path, seed: int = 0) -> DiffusionParts:
    """The full SD-Turbo architecture (about 866M UNet parameters) with random weights."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = diffusers.UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024,
        use_linear_projection=True,
        norm_num_groups=32,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
        scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=1024,
            intermediate_size=4096,
            num_attention_heads=16,
            num_hidden_layers=23,
            max_position_embeddings=77,
            vocab_size=49408,
            hidden_act="gelu",
            projection_dim=512,
        )
    )
    return DiffusionParts(unet, vae, text_encoder, write_tokenizer(tokenizer_dir, 77), euler_trailing())


def save_folder(parts: DiffusionParts, folder: Path) -> Path:
    """``parts`` as a diffusers img2img folder (safetensors), as save_pretrained writes one."""
    for name in ("unet", "vae", "text_encoder"):
        getattr(parts, name).save_pretrained(folder / name, safe_serialization=True)
    parts.tokenizer.save_pretrained(folder / "tokenizer")
    parts.scheduler.save_pretrained(folder / "scheduler")
    index = {
        "_class_name": "StableDiffusionImg2ImgPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", type(parts.vae).__name__],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", type(parts.scheduler).__name__],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
    }
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder
