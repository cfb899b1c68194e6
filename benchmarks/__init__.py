"""Benchmarks: latency on the wire, ASR accuracy, resource use. Run with `make bench`."""
