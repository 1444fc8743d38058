"""Exceptions raised by agentcache.

Every error the library raises on purpose derives from ``AgentCacheError``::

    AgentCacheError
    ├── ConfigurationError          bad settings, schema file or argument wiring
    │   └── SchemaError             the index schema YAML is invalid
    ├── InvalidInputError           (also ValueError) a bad argument to a cache call
    │   └── UnkeyableArgumentError  a tool argument with no stable key
    ├── SerializationError          a value that cannot be stored or read back
    ├── CacheUnavailableError       Redis unreachable, timing out, OOM or loading
    │   └── MissingModuleError      the server lacks the search (or JSON) module
    ├── EmbeddedServerError         the embedded Redis Stack failed to start
    └── MigrationError              an index migration was refused or failed
        └── MigrationLockedError    another migration holds the lock

``CacheUnavailableError`` only reaches callers in strict mode: by default a
cache fault is logged, counted and served as a miss.
"""

from __future__ import annotations


class AgentCacheError(Exception):
    """Base class of every error agentcache raises."""


class ConfigurationError(AgentCacheError):
    """Settings or wiring that cannot work (named in the message)."""


class SchemaError(ConfigurationError):
    """The index schema YAML is missing, malformed or lacks a required field."""


class InvalidInputError(AgentCacheError, ValueError):
    """An argument to a cache call is invalid; the message names it."""


class UnkeyableArgumentError(InvalidInputError, TypeError):
    """A tool argument cannot be turned into a stable cache key."""


class SerializationError(AgentCacheError):
    """A value cannot be serialised for storage, or a stored value is corrupt."""


class CacheUnavailableError(AgentCacheError):
    """Redis could not serve the request (connection, timeout, OOM, loading)."""


class MissingModuleError(CacheUnavailableError):
    """The Redis server lacks a module agentcache needs."""


class EmbeddedServerError(AgentCacheError):
    """The embedded Redis Stack could not be found or started."""


class MigrationError(AgentCacheError):
    """An index migration was refused or failed."""


class MigrationLockedError(MigrationError):
    """Another migration holds the migration lock."""
