"""``python -m beatgan`` runs the command line."""

import sys

from beatgan.cli import main

sys.exit(main())
