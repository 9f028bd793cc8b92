"""Test support shared by several suites (and the benchmarks): real processes, stand-in servers."""
