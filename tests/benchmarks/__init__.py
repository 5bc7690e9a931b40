"""Benchmarks: run by hand (``python -m tests.benchmarks.bench_heartbeat``), not by pytest."""
