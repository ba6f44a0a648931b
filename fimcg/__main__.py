"""``python -m fimcg ...`` is the same as the ``fimcg`` command."""

import sys

from .app.cli import main

sys.exit(main())
