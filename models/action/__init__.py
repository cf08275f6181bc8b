"""Action labels from video clips: VideoMAE through transformers, preprocessing on the device."""

from .load import ActionModel, load_action_model
from .preprocess import ClipPreprocessing

__all__ = ["ActionModel", "ClipPreprocessing", "load_action_model"]
