"""Redis plumbing shared by every layer: clients, embedded server, fault guard, and the
Redis contracts written once: key builders (keys), reply decoding (replies), the
index-metadata model (index_meta)."""

from __future__ import annotations
