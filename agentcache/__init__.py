"""agentcache: caching at every layer of an LLM agent, on Redis Stack."""

from __future__ import annotations

from agentcache._policy import Candidate, Decision, DecisionPolicy, ThresholdPolicy
from agentcache._semantic_core import CacheHit, CacheStats
from agentcache._server import EmbeddedRedis
from agentcache.exceptions import (
    AgentCacheError,
    CacheUnavailableError,
    ConfigurationError,
    EmbeddedServerError,
    InvalidInputError,
    MigrationError,
    MigrationLockedError,
    MissingModuleError,
    SchemaError,
    SerializationError,
    UnkeyableArgumentError,
)
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import (
    CallableVectorizer,
    LocalVectorizer,
    OpenAIVectorizer,
    Vectorizer,
)

__version__ = "0.1.0"

__all__ = [
    "AgentCacheError",
    "AgentCacheSettings",
    "AsyncSemanticCache",
    "CacheHit",
    "CacheStats",
    "CacheUnavailableError",
    "CallableVectorizer",
    "Candidate",
    "ConfigurationError",
    "Decision",
    "DecisionPolicy",
    "EmbeddedRedis",
    "EmbeddedServerError",
    "InvalidInputError",
    "LocalVectorizer",
    "MigrationError",
    "MigrationLockedError",
    "MissingModuleError",
    "OpenAIVectorizer",
    "SchemaError",
    "SemanticCache",
    "SerializationError",
    "ThresholdPolicy",
    "UnkeyableArgumentError",
    "Vectorizer",
    "__version__",
]
