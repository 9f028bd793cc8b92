"""Test support shared by several suites, the benchmarks and the demo: real processes on free ports,
stand-in servers, models in a local registry."""
