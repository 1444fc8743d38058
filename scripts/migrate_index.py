#!/usr/bin/env python
"""Migrate the semantic index: plan | apply | rollback | status | cleanup (see docs/migrations.md).

Same as ``agentcache migrate``; configuration comes from AGENTCACHE_* variables.
"""

from __future__ import annotations

import sys

from agentcache.cli.migrate import main

if __name__ == "__main__":
    sys.exit(main())
