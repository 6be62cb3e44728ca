#!/usr/bin/env python
"""Django's command-line utility for Tickwire, from a checkout (``tickwire manage`` where
the package is installed)."""

import sys

from tickwire.cli.manage import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="manage.py"))
