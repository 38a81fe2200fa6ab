"""``python -m monorobust`` is the ``monorobust`` command."""

import sys

from monorobust.cli import main

sys.exit(main())
