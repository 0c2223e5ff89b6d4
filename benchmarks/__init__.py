"""Benchmark of the polling policy: what stage-adaptive polling costs and what it catches."""
