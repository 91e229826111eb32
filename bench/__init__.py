"""Benchmarks against other microcontroller inference runtimes."""
