import sys

from livefx.stream.cli import main

sys.exit(main())
