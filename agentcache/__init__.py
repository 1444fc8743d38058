"""agentcache: caching at every layer of an LLM agent, on Redis Stack."""

from __future__ import annotations

from agentcache._redis.server import EmbeddedRedis
from agentcache.embeddings import (
    AsyncEmbeddingCache,
    CachedVectorizer,
    EmbeddingCache,
    EmbeddingCacheInfo,
)
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
from agentcache.llm import (
    AsyncCachedAnthropic,
    AsyncCachedOpenAI,
    CachedAnthropic,
    CachedOpenAI,
    CacheInfo,
    CacheMode,
    Ledger,
    cache_info,
    print_session_table,
    session_table,
)
from agentcache.metrics._counters import Metrics
from agentcache.metrics._export import OpenTelemetrySink, PrometheusCollector, serve_prometheus
from agentcache.metrics._flush import read_counters
from agentcache.metrics._types import MetricsSnapshot
from agentcache.migrations._migrator import (
    MigrationPlan,
    MigrationReport,
    MigrationStatus,
    Migrator,
)
from agentcache.migrations.warm import WarmReport, warm_cache
from agentcache.prompt_caching.costs import CostReport, PriceTable, Usage
from agentcache.semantic._async import AsyncSemanticCache
from agentcache.semantic._policy import (
    Candidate,
    Decision,
    DecisionPolicy,
    GuardedPolicy,
    ThresholdPolicy,
    VerifiedPolicy,
    policy_from_settings,
)
from agentcache.semantic._sync import SemanticCache
from agentcache.semantic._types import CacheHit, CacheStats, CheckResult
from agentcache.settings import AgentCacheSettings
from agentcache.stack import AgentCache, AsyncAgentCache
from agentcache.tools import (
    AsyncCachedTool,
    AsyncToolCache,
    CachedTool,
    ToolCache,
    ToolCacheInfo,
    cached_tool,
)
from agentcache.vectorizers import (
    CallableVectorizer,
    LocalVectorizer,
    OpenAIVectorizer,
    Vectorizer,
)

__version__ = "0.1.0"

__all__ = [
    "AgentCache",
    "AgentCacheError",
    "AgentCacheSettings",
    "AsyncAgentCache",
    "AsyncCachedAnthropic",
    "AsyncCachedOpenAI",
    "AsyncCachedTool",
    "AsyncEmbeddingCache",
    "AsyncSemanticCache",
    "AsyncToolCache",
    "CacheHit",
    "CacheInfo",
    "CacheMode",
    "CacheStats",
    "CacheUnavailableError",
    "CachedAnthropic",
    "CachedOpenAI",
    "CachedTool",
    "CachedVectorizer",
    "CallableVectorizer",
    "Candidate",
    "CheckResult",
    "ConfigurationError",
    "CostReport",
    "Decision",
    "DecisionPolicy",
    "EmbeddedRedis",
    "EmbeddedServerError",
    "EmbeddingCache",
    "EmbeddingCacheInfo",
    "GuardedPolicy",
    "InvalidInputError",
    "Ledger",
    "LocalVectorizer",
    "Metrics",
    "MetricsSnapshot",
    "MigrationError",
    "MigrationLockedError",
    "MigrationPlan",
    "MigrationReport",
    "MigrationStatus",
    "Migrator",
    "MissingModuleError",
    "OpenAIVectorizer",
    "OpenTelemetrySink",
    "PriceTable",
    "PrometheusCollector",
    "SchemaError",
    "SemanticCache",
    "SerializationError",
    "ThresholdPolicy",
    "ToolCache",
    "ToolCacheInfo",
    "UnkeyableArgumentError",
    "Usage",
    "Vectorizer",
    "VerifiedPolicy",
    "WarmReport",
    "__version__",
    "cache_info",
    "cached_tool",
    "policy_from_settings",
    "print_session_table",
    "read_counters",
    "serve_prometheus",
    "session_table",
    "warm_cache",
]
