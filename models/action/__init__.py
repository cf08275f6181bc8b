"""Action labels from video clips: VideoMAE through transformers, preprocessing on the device."""

from livefx.models.action.load import ActionModel, load_action_model
from livefx.models.action.preprocess import ClipPreprocessing

__all__ = ["ActionModel", "ClipPreprocessing", "load_action_model"]
