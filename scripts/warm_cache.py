#!/usr/bin/env python
"""Warm the semantic cache from a JSONL or CSV file of question/answer pairs.

Same as ``agentcache warm FILE --tenant T --agent A``.
"""

from __future__ import annotations

import sys

from agentcache.cli.warm import main

if __name__ == "__main__":
    sys.exit(main())
