"""``python -m agentcache``: the same as the ``agentcache`` command."""

import sys

from agentcache.cli import main

sys.exit(main())
