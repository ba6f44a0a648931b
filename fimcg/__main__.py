"""``python -m fimcg ...`` is the same as the ``fimcg`` command."""

import sys

from .cli import main

sys.exit(main())
