"""``python -m chat``: the same as the ``chat`` command."""

import sys

from .cli import main

sys.exit(main())
