"""When and how much work runs: the rings, the worker and its stage chain, the budget that plans each
frame, live changes applied between frames, and the CPU threads the models get."""
