"""Benchmarks: `make bench` runs them all; each is also a script (.venv/bin/python bench/x.py)."""
