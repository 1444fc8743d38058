"""Which Redis Cluster primary holds which tenants, with their semantic-cache entry counts.

Usage::

    python scripts/cluster_tenants.py --nodes 127.0.0.1:7000,127.0.0.1:7001 [--tenant T] [--json]

The same as ``agentcache cluster``; settings (key prefix, index name) come from
the AGENTCACHE_* environment.
"""

from __future__ import annotations

import sys

from agentcache.cli import main

if __name__ == "__main__":
    sys.exit(main(["cluster", *sys.argv[1:]]))
