"""The servers under test. Each runs as its own process, driven by :mod:`benchmarks.control`."""
