"""Action labels from video clips: VideoMAE through transformers, preprocessing on the device."""

from .classifier import ClipClassifier, accelerate_classifier
from .load import ActionModel, load_action_model
from .preprocess import ClipPreprocessing

__all__ = ["ActionModel", "ClipClassifier", "ClipPreprocessing", "accelerate_classifier", "load_action_model"]
