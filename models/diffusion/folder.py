"""A local diffusers folder (SD-Turbo, SD 2.1/1.5 class) checked and loaded, safetensors only.

``load_diffusion`` reads ``unet/``, ``vae/`` (or a separate tiny autoencoder), ``text_encoder/``,
``tokenizer/`` and ``scheduler/`` with diffusers' own classes and returns a ``DiffusionModel``:
the weights, shared by every stream, and what each stream needs from them (prompt embeddings,
the noise schedule). Nothing is downloaded unless ``allow_download`` is given.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError, WeightsError, one_line

log = logging.getLogger("livefx.diffusion")

#: What ``--style sd:PATH`` starts with.
SD_PREFIX = "sd:"
#: Sub-folders a diffusers img2img folder must have (``vae`` may come from ``--vae-tiny``).
REQUIRED_PARTS = ("unet", "text_encoder", "tokenizer", "scheduler")
#: Schedulers whose timesteps and noise schedule livefx samples with (models.diffusion.sampler):
#: deterministically, as DDIM with eta 0, which is what Euler computes. Ancestral Euler equals it
#: at one step; at more, livefx adds no fresh noise per step on purpose (it would boil on video).
SUPPORTED_SCHEDULERS = ("EulerDiscreteScheduler", "DDIMScheduler", "EulerAncestralDiscreteScheduler")
INSTALL_HINT = "pip install 'livefx[diffusion]' (diffusers)"


def require_diffusers():
    """The diffusers module, or a UsageError that says how to install it."""
    if importlib.util.find_spec("diffusers") is None:
        raise UsageError(f"sd: diffusion styles need diffusers: {INSTALL_HINT}", setting="style")
    import diffusers

    return diffusers


@dataclass(frozen=True)
class DiffusionSource:
    """Where a diffusion style's weights come from (``--style sd:PATH``, ``--vae-tiny PATH``)."""

    folder: str
    vae_tiny: str | None = None
    #: Let diffusers fetch ``folder`` from the Hugging Face hub (a repo id) when not local.
    allow_download: bool = False

    @property
    def name(self) -> str:
        return SD_PREFIX + Path(self.folder).name


def parse_sd_spec(spec: str) -> str | None:
    """``sd:PATH`` -> PATH; None for any other style spec."""
    if not spec.startswith(SD_PREFIX):
        return None
    folder = spec[len(SD_PREFIX) :]
    if not folder:
        raise UsageError("sd: give the diffusers folder, e.g. --style sd:models/sd-turbo", setting="style")
    return folder


def check_folder(source: DiffusionSource) -> None:
    """Raise a readable error for a folder that cannot be an img2img model; before any load."""
    folder = Path(source.folder)
    if not folder.exists():
        if source.allow_download:
            return  # a hub repo id: diffusers fetches and checks it
        raise WeightsError(
            f"{folder}: no such folder; save a model there with diffusers' save_pretrained"
            " (see README: Diffusion styles), or pass --allow-download for a hub repo id",
            setting="style",
        )
    if not folder.is_dir():
        raise WeightsError(f"{folder}: not a folder; sd: takes a diffusers model folder", setting="style")
    vae_parts = () if source.vae_tiny else ("vae",)
    missing = [part for part in (*REQUIRED_PARTS, *vae_parts) if not (folder / part).is_dir()]
    if missing:
        raise WeightsError(
            f"{folder}: not a complete diffusers img2img folder (missing {', '.join(missing)}/);"
            " it needs unet/, vae/ (or --vae-tiny), text_encoder/, tokenizer/ and scheduler/",
            setting="style",
        )
    for part in ("unet", "text_encoder", *vae_parts):
        _check_weights(folder / part)
    if source.vae_tiny:
        tiny = Path(source.vae_tiny)
        if not (tiny / "config.json").is_file():
            raise WeightsError(
                f"{tiny}: not a diffusers autoencoder folder (no config.json); give the folder of"
                " an AutoencoderTiny such as madebyollin/taesd saved with save_pretrained",
                setting="vae-tiny",
            )
        _check_weights(tiny, setting="vae-tiny")
    _check_model_types(
        folder, _read_config(folder / "unet"), _class_name(folder / "scheduler", "scheduler_config.json")
    )


def _check_model_types(folder: Path | str, unet: dict, scheduler: str) -> None:
    """Refuse UNets and schedulers livefx cannot run, from their configs (before any weights)."""
    unet_class = unet.get("_class_name", "unknown model")
    if unet_class != "UNet2DConditionModel":
        raise WeightsError(f"{folder}/unet: a {unet_class}, not a UNet2DConditionModel", setting="style")
    if unet.get("time_cond_proj_dim") is not None:
        raise UsageError(
            f"{folder}: an LCM-distilled UNet (it takes a guidance embedding); livefx runs turbo and"
            " plain SD 1.x/2.x-class UNets",
            setting="style",
        )
    if unet.get("addition_embed_type"):
        raise UsageError(
            f"{folder}: an SDXL-class UNet (extra text/time conditioning); livefx runs SD 1.x/2.x-class"
            " models such as sd-turbo",
            setting="style",
        )
    if scheduler not in SUPPORTED_SCHEDULERS:
        raise UsageError(
            f"{folder}/scheduler: {scheduler} is not supported; livefx samples with"
            f" {', '.join(SUPPORTED_SCHEDULERS)} (edit scheduler_config.json's _class_name)",
            setting="style",
        )


def equivalent_inference_steps(steps: int, strength: float) -> int:
    """diffusers' ``num_inference_steps`` whose img2img runs the same timesteps as livefx's
    ``steps`` at ``strength`` (trailing spacing); ValueError when no whole number does."""
    total = steps / strength
    if abs(total - round(total)) > 1e-9:
        raise ValueError(f"{steps} steps at strength {strength:g}: no diffusers step count runs these timesteps")
    return round(total)


def _read_config(part: Path, name: str = "config.json") -> dict:
    path = part / name
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{path}: missing", setting="style") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path}: not valid JSON ({one_line(exc)})", setting="style") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: not a config (a JSON object)", setting="style")
    return config


def _class_name(part: Path, name: str = "config.json") -> str:
    return str(_read_config(part, name).get("_class_name", "unknown model"))


def _check_weights(part: Path, setting: str = "style") -> None:
    if any(part.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in part.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    if pickled:
        raise WeightsError(
            f"{part}: only pickle weights ({', '.join(pickled)}); livefx loads safetensors only:"
            " re-save the folder with save_pretrained(..., safe_serialization=True)",
            setting=setting,
        )
    raise WeightsError(f"{part}: no .safetensors weights", setting=setting)


def _quiet_libraries() -> None:
    """diffusers and transformers log advice for their own users (install accelerate, config
    versions) and draw progress bars; livefx reports its loading itself."""
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    for library in (diffusers_logging, transformers_logging):
        library.set_verbosity_error()
        library.disable_progress_bar()


class DiffusionModel:
    """The loaded parts of one diffusers folder, on one device, shared by every stream.

    Not a stage: ``models.diffusion.stage.DiffusionStage`` holds a stream's state (its noise,
    its prompt, its stream-batch buffer) and calls these parts.
    """

    def __init__(
        self,
        unet: nn.Module,
        vae: nn.Module,
        text_encoder: nn.Module,
        tokenizer: object,
        scheduler: object,
        *,
        name: str,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.unet = unet
        self.vae = vae
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.dtype = dtype
        #: AutoencoderTiny encodes straight to latents; AutoencoderKL to a distribution.
        self.tiny_vae = type(vae).__name__ == "AutoencoderTiny"
        self.scaling_factor = float(vae.config.scaling_factor)
        #: Pixels per latent cell (8 for every SD-class autoencoder).
        self.vae_scale = 2 ** (len(vae.config.block_out_channels) - 1) if not self.tiny_vae else 8
        self.latent_channels = int(unet.config.in_channels)
        # All the sampler needs of the folder's scheduler: its noise schedule and what the UNet predicts.
        self.prediction_type = scheduler.config.prediction_type
        self.alphas_cumprod = scheduler.alphas_cumprod.to(torch.float32)
        self.train_timesteps = int(scheduler.config.num_train_timesteps)

    @torch.inference_mode()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """The text encoder's last hidden state for ``prompt`` (1, tokens, dim), as diffusers'
        pipelines compute it (padded to the tokenizer's length)."""
        tokens = self.tokenizer(
            prompt,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            mask = tokens.attention_mask.to(self.device)
        hidden = self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]
        return hidden.to(self.dtype)

    def timesteps(self, steps: int, strength: float) -> list[int]:
        """The ``steps`` timesteps img2img at ``strength`` runs: evenly spaced below
        ``strength`` of the training schedule, the first at ``strength * T``, whatever the
        step count (so the planner changing the count never changes how far a frame is
        noised). Equal to diffusers' trailing spacing with ``equivalent_inference_steps``."""
        total = self.train_timesteps
        return [max(0, round(strength * total * (steps - i) / steps) - 1) for i in range(steps)]

    def describe(self) -> dict:
        """What was loaded, for logs and the stats file."""
        return {
            "name": self.name,
            "vae": type(self.vae).__name__,
            "prediction": self.prediction_type,
            "latent_channels": self.latent_channels,
            "unet_parameters_m": round(sum(p.numel() for p in self.unet.parameters()) / 1e6, 2),
        }


def load_diffusion(source: DiffusionSource, device: torch.device, dtype: torch.dtype) -> DiffusionModel:
    """Check ``source`` and load its parts (safetensors only) onto ``device`` in ``dtype``."""
    require_diffusers()
    check_folder(source)
    import diffusers
    from transformers import CLIPTextModel, CLIPTokenizer

    _quiet_libraries()
    local = not source.allow_download
    folder = source.folder
    options = {"use_safetensors": True, "local_files_only": local}

    def part(what: str, load: Callable[[], object], setting: str = "style") -> object:
        log.info("loading %s ...", what)
        try:
            return load()
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise WeightsError(f"{what}: cannot load ({one_line(exc)})", setting=setting) from None

    def config_of(subfolder: str, reader: type) -> dict:
        """A part's config, local or (with --allow-download) from the hub, before any weights."""
        return part(
            f"{folder}/{subfolder}",
            lambda: dict(reader.load_config(folder, subfolder=subfolder, local_files_only=local)),
        )

    scheduler_config = config_of("scheduler", diffusers.EulerDiscreteScheduler)
    _check_model_types(
        folder, config_of("unet", diffusers.UNet2DConditionModel), str(scheduler_config.get("_class_name"))
    )
    vae_class = (
        "AutoencoderTiny" if source.vae_tiny else str(config_of("vae", diffusers.AutoencoderKL).get("_class_name"))
    )
    if vae_class not in ("AutoencoderKL", "AutoencoderTiny"):
        raise WeightsError(f"{folder}/vae: a {vae_class}, not an SD autoencoder", setting="style")
    unet = part(
        f"{folder}/unet", lambda: diffusers.UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **options)
    )
    if source.vae_tiny:
        tiny = source.vae_tiny
        vae = part(tiny, lambda: diffusers.AutoencoderTiny.from_pretrained(tiny, **options), "vae-tiny")
    else:
        vae_type = getattr(diffusers, vae_class)
        vae = part(f"{folder}/vae", lambda: vae_type.from_pretrained(folder, subfolder="vae", **options))
    text_encoder = part(
        f"{folder}/text_encoder", lambda: CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", **options)
    )
    tokenizer = part(
        f"{folder}/tokenizer",
        lambda: CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=local),
    )
    scheduler_class = getattr(diffusers, scheduler_config["_class_name"])
    config = scheduler_config
    if text_encoder.config.hidden_size != unet.config.cross_attention_dim:
        raise WeightsError(
            f"{folder}: the text encoder's width ({text_encoder.config.hidden_size}) is not the UNet's"
            f" cross-attention width ({unet.config.cross_attention_dim}); the parts are from different models",
            setting="style",
        )
    if vae.config.latent_channels != unet.config.in_channels:
        raise WeightsError(
            f"{source.vae_tiny or folder}: the autoencoder's {vae.config.latent_channels} latent channels do"
            f" not match the UNet's {unet.config.in_channels} inputs",
            setting="vae-tiny" if source.vae_tiny else "style",
        )
    for module in (unet, vae, text_encoder):
        module.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return DiffusionModel(
        unet,
        vae,
        text_encoder,
        tokenizer,
        scheduler_class.from_config(config),
        name=source.name,
        device=device,
        dtype=dtype,
    )
