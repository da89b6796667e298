"""Benchmarks and their reference-style baselines."""
