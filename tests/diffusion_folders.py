"""Tiny random diffusion models in the real diffusers/transformers classes, saved as diffusers
folders (safetensors), for tests that must not download weights. Random weights: these check
the arithmetic and the plumbing, never picture quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: Token length of the tiny tokenizer (the real CLIP one is 77).
TOKENS = 16
TEXT_WIDTH = 32


def diffusers_or_skip():
    return pytest.importorskip("diffusers", reason="diffusion tests need diffusers: pip install 'livefx[diffusion]'")


def write_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer written here: printable ASCII, a few merges, CLIP's special tokens."""
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(33, 127)]
    vocab: dict[str, int] = {}
    for token in [*chars, *(c + "</w>" for c in chars), "th", "the</w>", "<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    source = folder.parent / (folder.name + "-source")
    source.mkdir(parents=True, exist_ok=True)
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\nt h\nth e</w>\n")
    tokenizer = CLIPTokenizer(str(source / "vocab.json"), str(source / "merges.txt"), model_max_length=TOKENS)
    tokenizer.save_pretrained(folder)


def build_tiny_folder(
    folder: Path, *, tiny_vae: Path | None = None, seed: int = 0, prediction: str = "epsilon"
) -> Path:
    """Save a tiny SD-class img2img model (UNet, KL autoencoder, CLIP text model, tokenizer,
    Euler scheduler with trailing spacing as sd-turbo has) to ``folder``; with ``tiny_vae``, also
    an AutoencoderTiny there."""
    diffusers = diffusers_or_skip()
    import torch
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
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            hidden_size=TEXT_WIDTH,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            pad_token_id=1,
            vocab_size=200,
            max_position_embeddings=TOKENS,
        )
    )
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
        prediction_type=prediction,
    )
    write_tokenizer(folder / "tokenizer")
    for name, part in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder)):
        part.save_pretrained(folder / name, safe_serialization=True)
    scheduler.save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionImg2ImgPipeline",
                "unet": ["diffusers", "UNet2DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "text_encoder": ["transformers", "CLIPTextModel"],
                "tokenizer": ["transformers", "CLIPTokenizer"],
                "scheduler": ["diffusers", "EulerDiscreteScheduler"],
                "safety_checker": [None, None],
                "feature_extractor": [None, None],
                "requires_safety_checker": False,
            }
        )
    )
    if tiny_vae is not None:
        diffusers.AutoencoderTiny(
            encoder_block_out_channels=(16, 16, 16, 16),
            decoder_block_out_channels=(16, 16, 16, 16),
            num_encoder_blocks=(1, 1, 1, 1),
            num_decoder_blocks=(1, 1, 1, 1),
            latent_channels=4,
        ).save_pretrained(tiny_vae, safe_serialization=True)
    return folder


def diffusers_img2img(
    folder: Path,
    image,
    prompt: str,
    *,
    steps: int,
    strength: float,
    seed: int,
    guidance: float = 1.0,
    vae_tiny: Path | None = None,
):
    """diffusers' own StableDiffusionImg2ImgPipeline on ``folder``: the reference output, NCHW [0, 1]."""
    diffusers = diffusers_or_skip()
    import torch

    extra = {}
    if vae_tiny is not None:
        extra["vae"] = diffusers.AutoencoderTiny.from_pretrained(vae_tiny, local_files_only=True)
    pipe = diffusers.StableDiffusionImg2ImgPipeline.from_pretrained(
        folder, local_files_only=True, use_safetensors=True, safety_checker=None, requires_safety_checker=False, **extra
    )
    pipe.set_progress_bar_config(disable=True)
    total = max(steps, round(steps / strength))
    return pipe(
        prompt,
        image=image,
        num_inference_steps=total,
        strength=strength,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(seed),
        output_type="pt",
    ).images
