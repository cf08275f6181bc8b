"""Loading a VideoMAE video classifier from a local Hugging Face folder."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import WeightsError
from .preprocess import ClipPreprocessing

log = logging.getLogger("livefx.actions")

#: Seconds between the frames of a clip when the folder does not say: Kinetics VideoMAE
#: models sample every 4th frame of 30 fps video.
DEFAULT_FRAME_INTERVAL_S = 4 / 30


@dataclass
class ActionModel:
    """A loaded classifier and what it expects."""

    model: torch.nn.Module  # VideoMAEForVideoClassification, eval mode
    labels: list[str]  # index -> label, from the config's id2label
    num_frames: int
    preprocessing: ClipPreprocessing
    #: Time between the clip's frames the model was trained on; the sampler picks the
    #: ring stride from the input rate to match it.
    frame_interval_s: float
    name: str

    def stride_for(self, fps: float) -> int:
        return max(1, round(self.frame_interval_s * fps))


def load_action_model(folder: str | Path) -> ActionModel:
    """A VideoMAEForVideoClassification from ``folder`` (``config.json`` + weights), offline.

    Raises WeightsError naming what is missing or broken.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: no such folder (expected a Hugging Face model folder)", setting="actions")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise WeightsError(
            f"{folder}: no config.json (expected a VideoMAE folder saved with save_pretrained)", setting="actions"
        )
    try:
        raw = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{config_path}: not valid JSON ({exc})") from None
    if raw.get("model_type") != "videomae":
        raise WeightsError(f"{config_path}: model_type is {raw.get('model_type')!r}, expected 'videomae'")
    weights = [p for p in ("model.safetensors", "pytorch_model.bin") if (folder / p).is_file()]
    if not weights and not list(folder.glob("model-*.safetensors")):
        raise WeightsError(
            f"{folder}: no model.safetensors (or pytorch_model.bin) next to config.json", setting="actions"
        )

    from transformers import VideoMAEConfig, VideoMAEForVideoClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # livefx logs its own progress

    try:
        config = VideoMAEConfig.from_pretrained(folder, local_files_only=True)
        # safetensors when present; a .bin is read by transformers with torch.load(weights_only=True).
        model = VideoMAEForVideoClassification.from_pretrained(folder, config=config, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for broken files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise WeightsError(f"{folder}: could not load the model ({reason})", setting="actions") from None
    labels = [config.id2label[i] for i in range(config.num_labels)]
    interval = float(raw.get("livefx_frame_interval_s", DEFAULT_FRAME_INTERVAL_S))
    return ActionModel(
        model=model.eval(),
        labels=labels,
        num_frames=config.num_frames,
        preprocessing=ClipPreprocessing.from_folder(folder, config.image_size),
        frame_interval_s=interval,
        name=folder.name,
    )
