"""Benchmarks: `python -m bench` compares our design with the naive one in the same run."""
