"""Benchmarks: `make bench` runs them, writes results.json and RESULTS.md."""
