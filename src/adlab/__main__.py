"""``python -m adlab`` is the ``adlab`` command."""

import sys

from adlab.cli import main

sys.exit(main())
