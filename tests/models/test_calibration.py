"""The int8 calibration scenes: deterministic, sized, in range, and pictures rather than noise."""

import numpy as np

from livefx.models.calibration import calibration_images, calibration_tensors


def test_the_same_arguments_draw_the_same_scenes_and_another_seed_others():
    first, again = calibration_images(96, 64, 3), calibration_images(96, 64, 3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], calibration_images(96, 64, 1, seed=1)[0])
    assert all(image.shape == (64, 96, 3) and image.dtype == np.uint8 for image in first)


def test_scenes_are_mostly_smooth_with_edges_unlike_noise():
    images = calibration_images(160, 120, 8)
    for image in images:
        step = np.abs(np.diff(image.astype(np.int16), axis=1))
        assert np.median(step) < 12  # uniform noise: ~85
        assert step.max() > 60  # but shapes, text and faces give hard edges
    means = [image.mean() for image in images]
    assert max(means) - min(means) > 30  # dim and bright exposures


def test_tensors_are_in_the_networks_input_range():
    unit, teacher = calibration_tensors(64, 48, 2), calibration_tensors(64, 48, 2, scale=255.0)
    assert unit[0].shape == (1, 3, 48, 64) and 0.5 < unit[0].max() <= 1.0
    assert np.allclose(teacher[1].numpy(), unit[1].numpy() * 255, atol=1e-3)
