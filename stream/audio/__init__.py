"""Audio beside the frames: a source's sound, stamped on the capture clock, delivered to the
sinks that hold audio without ever waiting on video work.

``chunk.py`` (the one audio type: int16 samples with their media time and capture stamp),
``convert.py`` (decoded PyAV frames to chunks at one rate), ``bus.py`` (the source pushes,
each audio sink reads its own bounded buffer; a slow one loses its oldest chunks).
"""
