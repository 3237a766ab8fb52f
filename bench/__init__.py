"""Benchmarks: ``python -m bench`` (``make bench``) runs every module's ``run()`` and prints figures.

Each bench module exposes ``run(scale: float = 1.0) -> dict[str, float]``; ``scale`` shrinks
the sizes for a quick check (``python -m bench --scale 0.01``). Benches are not tests: they
measure, they do not assert.
"""
