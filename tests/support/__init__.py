"""Helpers shared by tests, benchmarks and the demo: real processes on free ports, models in a local registry."""
