"""Audio beside the frames: a source's sound, stamped on the capture clock, delivered to the
sinks that hold audio without ever waiting on video work.

``chunk.py`` (the one audio type: int16 samples with their media time and capture stamp),
``convert.py`` (decoded PyAV frames to chunks at one rate), ``bus.py`` (the source pushes,
each audio sink reads its own bounded buffer; a slow one loses its oldest chunks),
``live_clock.py`` (a live capture's blocks on the monotonic clock by a running sample count),
``pulse.py`` (PulseAudio's command-line tools, for the virtual microphone and ``--mic``).
"""
