"""VideoMAE through transformers: local folders, clear errors, the processor's preprocessing,
and the project-trained default on held-out clips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from livefx.models.action import ClipPreprocessing, accelerate_classifier, load_action_model
from livefx.models.errors import WeightsError
from livefx.models.openvino_runtime import openvino_problem
from livefx.models.registry import DEFAULT_ACTIONS
from livefx.models.train.data import skimage_image
from livefx.models.train.motion_clips import CLASSES, held_out_pictures, make_clip

CPU = torch.device("cpu")


def tiny_videomae(folder, labels=("wave", "clap", "jump"), preprocessor=None, **sizes):
    """A random VideoMAE saved in ``folder``; ``sizes`` override its config (image_size, ...)."""
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    shape = dict(image_size=32, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config = VideoMAEConfig(
        patch_size=16,
        num_frames=4,
        tubelet_size=2,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        **{**shape, **sizes},
    )
    torch.manual_seed(0)
    VideoMAEForVideoClassification(config).save_pretrained(folder)
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


def test_a_tiny_random_checkpoint_saved_with_save_pretrained_loads_and_runs(tmp_path):
    model = load_action_model(tiny_videomae(tmp_path / "tiny"))
    assert model.labels == ["wave", "clap", "jump"] and model.num_frames == 4
    assert model.preprocessing == ClipPreprocessing(32, (32, 32))
    frames = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), np.uint8) for i in range(4)]
    x = model.preprocessing(frames, CPU, torch.float32)
    assert x.shape == (1, 4, 3, 32, 32)
    with torch.no_grad():
        assert model.model(pixel_values=x).logits.shape == (1, 3)
    assert model.stride_for(30) == 4  # Kinetics-style sampling when the folder does not say


def test_the_classifier_runs_eager_as_the_model_does(tmp_path):
    model = load_action_model(tiny_videomae(tmp_path / "tiny"))
    run, report = accelerate_classifier(model.model, CPU, torch.float32, "eager")
    assert report.engine_entry() == {"backend": "eager", "precision": "fp32"}
    x = torch.rand(1, 4, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(run(x), model.model(pixel_values=x).logits)


@pytest.mark.skipif(openvino_problem() is not None, reason=str(openvino_problem()))
def test_the_classifier_in_openvino_matches_eager_and_keeps_fp32_unless_asked(tmp_path):
    model = load_action_model(tiny_videomae(tmp_path / "tiny"))
    img = skimage_image("chelsea")[:240, :320]
    x = model.preprocessing([np.roll(img, 3 * i, 1) for i in range(4)], CPU, torch.float32)
    with torch.inference_mode():
        expected = torch.softmax(model.model(pixel_values=x).logits, -1)
        # auto precision: fp32 (bf16 changed a top-1 label on real clips: bench.action_precision)
        run, report = accelerate_classifier(model.model, CPU, torch.float32, "openvino")
        assert report.engine_entry() == {"backend": "openvino", "precision": "fp32"}
        assert (torch.softmax(run(x), -1) - expected).abs().max().item() < 1e-5
        with pytest.raises(ValueError, match="ClipClassifier runs at one input shape, 1x4x3x32x32"):
            run(torch.rand(1, 4, 3, 48, 48))
        run, report = accelerate_classifier(model.model, CPU, torch.float32, "openvino", "bf16")
        assert report.engine_entry() == {"backend": "openvino", "precision": "bf16"}
        bf16 = torch.softmax(run(x), -1)
    assert bf16.argmax() == expected.argmax() and (bf16 - expected).abs().max().item() < 0.02


def test_missing_and_broken_folders_say_what_is_wrong(tmp_path):
    with pytest.raises(WeightsError, match="no such folder"):
        load_action_model(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="no config.json"):
        load_action_model(tmp_path / "empty")
    folder = tiny_videomae(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="could not load the model"):
        load_action_model(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="no model.safetensors"):
        load_action_model(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_action_model(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(WeightsError, match="expected 'videomae'"):
        load_action_model(folder)


def test_preprocessing_matches_the_checkpoints_processor(tmp_path):
    from transformers import VideoMAEImageProcessor

    settings = {
        "size": {"shortest_edge": 112},
        "crop_size": {"height": 112, "width": 112},
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
    }
    model = load_action_model(tiny_videomae(tmp_path / "m", preprocessor=settings))
    assert model.preprocessing == ClipPreprocessing(112, (112, 112), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    img = skimage_image("chelsea")[:240, :320]
    frames = [np.roll(img, 3 * i, 1) for i in range(4)]
    ours = model.preprocessing(frames, CPU, torch.float32)
    reference = VideoMAEImageProcessor(**settings)(frames, return_tensors="pt").pixel_values
    assert ours.shape == reference.shape
    assert float((ours - reference).abs().mean()) < 0.02  # normalised units; resampling differs slightly


@pytest.mark.skipif(not (DEFAULT_ACTIONS / "config.json").is_file(), reason="embedded action model not built")
def test_the_default_recognises_each_motion_on_held_out_clips():
    model = load_action_model(DEFAULT_ACTIONS)
    assert model.labels == CLASSES
    rng = np.random.default_rng(123)  # not the seeds training or the card used
    pictures = held_out_pictures()
    correct = 0
    for label in CLASSES:
        for _ in range(4):
            clip = make_clip(pictures[int(rng.integers(len(pictures)))], label, rng, model.num_frames)
            with torch.no_grad():
                logits = model.model(pixel_values=model.preprocessing(list(clip), CPU, torch.float32)).logits
            correct += model.labels[int(logits.argmax())] == label
    assert correct / (4 * len(CLASSES)) >= 0.9
