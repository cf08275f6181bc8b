"""Diffusion styles on tiny random models in the real classes: livefx's img2img against diffusers'
own pipeline, stream batch against sequential denoising, the stream's noise, live prompt changes,
the similarity filter, and the errors for folders that cannot be a model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from livefx.models.diffusion.folder import (
    DiffusionSource,
    check_folder,
    equivalent_inference_steps,
    load_diffusion,
    parse_sd_spec,
)
from livefx.models.diffusion.stage import NOISE_SHAPES, DiffusionOptions, DiffusionStage, PromptChange
from livefx.models.errors import LivefxError, UsageError, WeightsError
from tests.diffusion_folders import diffusers_img2img, diffusers_or_skip

diffusers_or_skip()

CPU = torch.device("cpu")
#: The same arithmetic in another order: Euler in sigma space (diffusers) and DDIM in alpha-bar
#: space (livefx) agree to float32 rounding, measured at most 9e-7 on these models; a wrong
#: timestep, noise or scaling shows up as differences of 1e-2 and more.
TOLERANCE = 1e-5


def model(folder: Path, vae_tiny: Path | None = None):
    return load_diffusion(DiffusionSource(str(folder), str(vae_tiny) if vae_tiny else None), CPU, torch.float32)


def frame(seed: int = 1, size: tuple[int, int] = (32, 48)) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.rand(1, 3, *size)


@pytest.mark.parametrize(
    ("autoencoder", "steps", "strength", "guidance"),
    [
        ("kl", 1, 0.5, 1.0),
        ("kl", 2, 0.5, 1.0),
        ("kl", 3, 0.6, 1.0),
        ("kl", 2, 0.5, 3.0),
        ("tiny", 1, 0.5, 1.0),
        ("tiny", 3, 0.75, 1.0),
    ],
)
def test_single_frame_img2img_equals_diffusers_pipeline(tiny_sd, autoencoder, steps, strength, guidance):
    folder, taesd = tiny_sd
    vae_tiny = taesd if autoencoder == "tiny" else None
    options = DiffusionOptions(prompt="the red fox", strength=strength, seed=7, steps=(steps,), guidance=guidance)
    stage = DiffusionStage(model(folder, vae_tiny), options, backend="eager")
    image = frame()
    ours = stage.run_steps(image, steps)
    reference = diffusers_img2img(
        folder, image, "the red fox", steps=steps, strength=strength, seed=7, guidance=guidance, vae_tiny=vae_tiny
    )
    difference = (ours - reference).abs().max().item()
    print(
        f"{autoencoder} steps={steps} strength={strength} guidance={guidance}:"
        f" max |livefx - diffusers| = {difference:.2e}"
    )
    assert ours.shape == reference.shape == image.shape
    assert difference <= TOLERANCE
    assert (ours - image).abs().mean() > 0.05, "the model changed the frame"


def test_odd_frame_sizes_are_padded_and_cropped_back(tiny_sd):
    folder, _ = tiny_sd
    stage = DiffusionStage(model(folder), DiffusionOptions(prompt="a", steps=(1,)), backend="eager")
    assert stage.run_steps(frame(size=(30, 45)), 1).shape == (1, 3, 30, 45)


def test_the_stream_noise_is_fixed_per_seed_so_a_still_frame_does_not_boil(tiny_sd):
    folder, _ = tiny_sd
    m = model(folder)
    stage = DiffusionStage(m, DiffusionOptions(prompt="the sea", steps=(2,), seed=3), backend="eager")
    image = frame()
    first, again = stage.run_steps(image, 2), stage.run_steps(image, 2)
    assert torch.equal(first, again)
    stage.configure(PromptChange(seed=4))
    assert (stage.run_steps(image, 2) - first).abs().max() > 1e-3


def test_the_noise_kept_per_shape_is_bounded_and_forgetting_it_changes_nothing(tiny_sd):
    folder, _ = tiny_sd
    stage = DiffusionStage(model(folder), DiffusionOptions(prompt="the sea", seed=3), backend="eager")
    first = [t.clone() for t in stage.noise(torch.Size((1, 4, 4, 6))) if t is not None]
    for side in range(5, 5 + NOISE_SHAPES):  # a camera that keeps changing size
        stage.noise(torch.Size((1, 4, side, side)))
    assert len(stage.live._noise) == NOISE_SHAPES and (1, 4, 4, 6) not in stage.live._noise
    again = [t for t in stage.noise(torch.Size((1, 4, 4, 6))) if t is not None]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # drawn afresh, the same


def test_fewer_steps_give_a_different_but_valid_picture(tiny_sd):
    folder, _ = tiny_sd
    stage = DiffusionStage(model(folder), DiffusionOptions(prompt="the sea", steps=(4, 2, 1)), backend="eager")
    image = frame()
    outputs = [stage.run_steps(image, n) for n in (4, 2, 1)]
    assert all(o.shape == image.shape and 0 <= o.min() and o.max() <= 1 for o in outputs)
    assert (outputs[0] - outputs[2]).abs().max() > 1e-4
    assert stage.step_choices == (4, 2, 1)


def test_stream_batch_equals_sequential_denoising_lagged(tiny_sd):
    folder, _ = tiny_sd
    m = model(folder)
    steps = 3
    options = DiffusionOptions(prompt="the red fox", strength=0.75, seed=5, steps=(steps,))
    sequential = DiffusionStage(m, options, backend="eager")
    batched = DiffusionStage(m, DiffusionOptions(**{**options.__dict__, "stream_batch": True}), backend="eager")
    assert batched.lag_frames == steps - 1 and batched.step_choices == (steps,)
    frames = [frame(seed) for seed in range(6)]
    outputs = [batched(f) for f in frames]
    differences = []
    for i in range(steps - 1, len(frames)):
        expected = sequential.run_steps(frames[i - (steps - 1)], steps)
        differences.append((outputs[i] - expected).abs().max().item())
    print(f"stream batch vs sequential, max |difference| per frame: {[f'{d:.1e}' for d in differences]}")
    assert max(differences) <= TOLERANCE
    # While the batch fills, frames still come out (the most advanced frame's prediction).
    assert all(o.shape == frames[0].shape for o in outputs[: steps - 1])


def test_a_prompt_change_applies_to_the_next_frame(tiny_sd):
    folder, _ = tiny_sd
    m = model(folder)
    stage = DiffusionStage(m, DiffusionOptions(prompt="the red fox", steps=(1,)), backend="eager")
    image = frame()
    before = stage(image)
    stage.configure(PromptChange(prompt="a blue whale", embeddings=m.encode_prompt("a blue whale"), strength=0.8))
    after = stage(image)
    fresh = DiffusionStage(m, DiffusionOptions(prompt="a blue whale", strength=0.8, steps=(1,)), backend="eager")
    assert torch.allclose(after, fresh(image), atol=TOLERANCE)
    assert (after - before).abs().max() > 1e-3
    assert stage.live_state()["prompt"] == "a blue whale" and stage.live_state()["strength"] == 0.8


def test_the_similarity_filter_repeats_the_output_for_a_still_camera_and_counts_it(tiny_sd):
    folder, _ = tiny_sd
    stage = DiffusionStage(model(folder), DiffusionOptions(prompt="x", steps=(1,), skip_similar=0.99), backend="eager")
    still = frame(1)
    first = stage(still)
    nearly = (still + 0.001 * torch.randn_like(still)).clamp(0, 1)
    assert stage(nearly) is first
    assert stage.skipped_similar == 1
    moved = frame(2)
    assert stage(moved) is not first and stage.skipped_similar == 1
    for _ in range(15):  # at most MAX_SKIPPED_IN_ROW (10) repeats in a row, then a fresh frame
        stage(moved)
    assert stage.skipped_similar == 1 + 10 + 4


def test_warmup_leaves_nothing_of_its_blank_frames_in_flight(tiny_sd):
    folder, _ = tiny_sd
    stage = DiffusionStage(model(folder), DiffusionOptions(steps=(2,), stream_batch=True), backend="eager")
    stage(frame(1))
    assert stage.warmup(32, 32, runs=2) > 0
    assert stage.denoising.in_flight == []


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"strength": 0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"steps": (1, 2)}, "steps"),
        ({"steps": (9,)}, "steps"),
        ({"steps": ()}, "steps"),
        ({"guidance": 0.5}, "guidance"),
        ({"skip_similar": 1.0}, "skip-similar"),
        ({"seed": -1}, "seed"),
    ],
)
def test_options_no_stream_can_run_are_refused_naming_the_setting(options, setting):
    with pytest.raises(UsageError) as info:
        DiffusionOptions(**options)
    assert info.value.setting == setting


def copy_folder(tiny_sd, tmp_path) -> Path:
    folder = tmp_path / "sd"
    shutil.copytree(tiny_sd[0], folder)
    return folder


def test_errors_for_folders_that_cannot_be_a_model(tiny_sd, tmp_path):
    def error(folder: Path | str, **kwargs) -> str:
        with pytest.raises(LivefxError) as info:
            load_diffusion(DiffusionSource(str(folder), **kwargs), CPU, torch.float32)
        return str(info.value)

    assert "no such folder" in error(tmp_path / "nowhere") and "--allow-download" in error(tmp_path / "nowhere")
    folder = copy_folder(tiny_sd, tmp_path)
    shutil.rmtree(folder / "scheduler")
    assert "missing scheduler/" in error(folder)

    folder = copy_folder(tiny_sd, tmp_path / "pickled")
    weights = next((folder / "unet").glob("*.safetensors"))
    weights.rename(folder / "unet" / "diffusion_pytorch_model.bin")
    assert "only pickle weights" in error(folder) and "safetensors" in error(folder)

    folder = copy_folder(tiny_sd, tmp_path / "corrupt")
    weights = next((folder / "unet").glob("*.safetensors"))
    weights.write_bytes(b"\x00" * 64)
    message = error(folder)
    assert "unet: cannot load" in message, message

    folder = copy_folder(tiny_sd, tmp_path / "sdxl")
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "addition_embed_type": "text_time"}))
    assert "SDXL-class" in error(folder)

    folder = copy_folder(tiny_sd, tmp_path / "wrong")
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "_class_name": "UNet2DModel"}))
    assert "not a UNet2DConditionModel" in error(folder)

    folder = copy_folder(tiny_sd, tmp_path / "sampler")
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({**scheduler, "_class_name": "DPMSolverMultistepScheduler"})
    )
    assert "is not supported" in error(folder)

    folder = copy_folder(tiny_sd, tmp_path / "novae")
    shutil.rmtree(folder / "vae")
    assert "missing vae/" in error(folder)
    assert "--vae-tiny" in error(folder) or "vae-tiny" in error(folder)
    with pytest.raises(WeightsError) as info:
        check_folder(DiffusionSource(str(folder), vae_tiny=str(tmp_path / "no-taesd")))
    assert info.value.setting == "vae-tiny"


def test_a_folder_without_its_autoencoder_runs_with_a_tiny_one(tiny_sd, tmp_path):
    folder = copy_folder(tiny_sd, tmp_path)
    shutil.rmtree(folder / "vae")
    stage = DiffusionStage(model(folder, tiny_sd[1]), DiffusionOptions(steps=(1,)), backend="eager")
    assert stage.model.tiny_vae and stage(frame()).shape == (1, 3, 32, 48)


def test_the_sd_prefix_and_a_missing_diffusers_are_explained(monkeypatch):
    assert parse_sd_spec("sd:models/sd-turbo") == "models/sd-turbo"
    assert parse_sd_spec("mosaic") is None
    with pytest.raises(UsageError):
        parse_sd_spec("sd:")
    import importlib.util

    from livefx.models.diffusion import folder as folder_module

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "diffusers" else real(name, *a))
    with pytest.raises(UsageError, match=r"livefx\[diffusion\]"):
        folder_module.require_diffusers()


def test_strength_sets_the_first_timestep_whatever_the_step_count(tiny_sd):
    m = model(tiny_sd[0])
    assert [m.timesteps(k, 0.75)[0] for k in (1, 2, 3, 4)] == [749] * 4
    assert m.timesteps(4, 0.5) == [499, 374, 249, 124]  # diffusers' trailing spacing at 8 steps
    assert equivalent_inference_steps(3, 0.6) == 5
    with pytest.raises(ValueError):
        equivalent_inference_steps(1, 0.75)


def test_repeated_and_part_filled_calls_are_not_taken_as_the_stage_cost(tiny_sd):
    m = model(tiny_sd[0])
    similar = DiffusionStage(m, DiffusionOptions(steps=(1,), skip_similar=0.99), backend="eager")
    similar(frame(1))
    assert similar.last_call_representative
    similar(frame(1))
    assert not similar.last_call_representative and similar.skipped_similar == 1
    batched = DiffusionStage(m, DiffusionOptions(steps=(3,), stream_batch=True), backend="eager")
    flags = []
    for seed in range(4):
        batched(frame(seed))
        flags.append(batched.last_call_representative)
    assert flags == [False, False, True, True]


def test_a_live_change_is_validated_whole_before_any_of_it_applies():
    with pytest.raises(UsageError):
        PromptChange(strength=0.5, seed=-1)
    with pytest.raises(UsageError):
        PromptChange(strength=2.0)


def test_lcm_unets_and_configs_that_are_not_objects_are_refused(tiny_sd, tmp_path):
    folder = copy_folder(tiny_sd, tmp_path / "lcm")
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "time_cond_proj_dim": 256}))
    with pytest.raises(UsageError, match="LCM-distilled"):
        check_folder(DiffusionSource(str(folder)))
    (folder / "unet" / "config.json").write_text("[]")
    with pytest.raises(WeightsError, match="not a config"):
        check_folder(DiffusionSource(str(folder)))
