"""``python -m bench``: the bench suite (see bench/suite.py)."""

from .suite import main

raise SystemExit(main())
