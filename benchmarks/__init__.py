"""Fan-out benchmark: Tickwire against its Python peers and the machine's raw limit.

``make bench`` (``python -m benchmarks.run``) runs it; see BENCHMARKS.md for results.
"""
