"""Run the command line with ``python -m bumpnet_root``."""

import sys

from .cli import main

sys.exit(main())
