"""The ``livefx`` command line: ``run``, ``serve`` and ``weights``, their option groups declared once,
and what those options build."""
