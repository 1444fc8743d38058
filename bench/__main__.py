"""``python -m bench``: the speed, scale and memory benchmark (see bench/speed.py)."""

from __future__ import annotations

import sys

from bench.speed import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
