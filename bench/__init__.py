"""datamill's benchmarks: ``python -m bench`` (see bench/README.md).

Benchmark modules sit beside this file and declare ``BENCHMARKS = [Benchmark(...), ...]``;
the harness (``bench.harness``) finds them, runs each contender in its own subprocess and
writes BENCHMARKS.md at the repository root.
"""
