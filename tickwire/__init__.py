"""Tickwire: a real-time market-data and live-portfolio server.

``__version__`` is the one place the version is written: the build reads it
(``[tool.setuptools.dynamic]`` in pyproject.toml), ``tickwire --version`` prints it, and
CHANGELOG.md's newest release must match it (tests/packaging/test_changelog.py).
"""

__version__ = "0.2.0"
