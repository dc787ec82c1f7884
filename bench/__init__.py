"""Benchmarks: load generators that print figures (never timed tests)."""
