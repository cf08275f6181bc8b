"""livefx streaming engine: frames flow source -> ring -> worker -> output ring -> sinks."""

__version__ = "0.1.0"
