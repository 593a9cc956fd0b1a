"""Benchmark tasks. Each module defines one; see :mod:`dasb.benchmarks.base`."""
