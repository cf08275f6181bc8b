"""What the worker runs on a frame: the style, motion (interpolation, stabilization), action labels,
label-triggered rules and the steps after the models."""
