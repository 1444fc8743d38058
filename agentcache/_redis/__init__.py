"""Redis plumbing shared by every layer: clients, server, keys, fault guard."""

from __future__ import annotations
