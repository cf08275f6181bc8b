"""Audio beside the frames: the one audio type and the delay line for live audio outputs."""
