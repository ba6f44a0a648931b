"""``python -m fimcg.fim.training``: pretrain the FIM (see :mod:`fimcg.fim.training.loop`)."""

import sys

from .loop import main

sys.exit(main())
