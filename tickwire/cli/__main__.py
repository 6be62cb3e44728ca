"""``python -m tickwire.cli``: the ``tickwire`` command."""

import sys

from tickwire.cli import main

sys.exit(main())
