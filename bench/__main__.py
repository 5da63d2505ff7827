"""``python -m bench [--quick] [--only NAME] [--no-write] [--peers]``."""

import sys

from bench.harness import main

sys.exit(main())
