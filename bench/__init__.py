"""Benchmarks, run from a checkout; not part of the installed package.

``python -m bench`` (or ``agentcache bench``) runs the speed, scale and
memory benchmark (bench/speed.py); other benchmarks run as modules
(``python -m bench.quality``).
"""
