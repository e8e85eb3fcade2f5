"""``python -m chat``: the same as the ``chat`` command."""

import sys

from chat.server.cli import main

sys.exit(main())
