"""Subcommands of the ``agentcache`` CLI, one module each (see agentcache.cli)."""
