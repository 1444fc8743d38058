"""Input bounds: TTLs (arguments and settings) and text that cannot be sent to Redis."""

from __future__ import annotations

import math

import pytest

from agentcache._limits import MAX_TTL_SECONDS, check_text, check_ttl
from agentcache.exceptions import ConfigurationError, InvalidInputError
from agentcache.settings import AgentCacheSettings


def test_the_ttl_bound_is_ten_years_and_fits_pexpire() -> None:
    assert MAX_TTL_SECONDS == 10 * 365 * 24 * 3600
    # PEXPIRE takes milliseconds added to the current unix time in a signed 64-bit integer.
    assert MAX_TTL_SECONDS * 1000 * 1000 < 2**63


@pytest.mark.parametrize(
    "value", [0, -1, MAX_TTL_SECONDS + 1, 10**16, 10**400, 1e30, math.nan, math.inf, True, "60"]
)
def test_a_bad_ttl_is_named(value: object) -> None:
    with pytest.raises(InvalidInputError, match="ttl of x must be"):
        check_ttl(value, "ttl of x", whole=False)


def test_whole_ttls_refuse_fractions_and_fractional_ttls_keep_them() -> None:
    with pytest.raises(InvalidInputError, match="whole number"):
        check_ttl(1.5, "ttl", whole=True)
    assert check_ttl(0.2, "ttl", whole=False) == 0.2
    assert check_ttl(MAX_TTL_SECONDS, "ttl", whole=True) == MAX_TTL_SECONDS


def test_a_lone_surrogate_is_named_with_its_position() -> None:
    with pytest.raises(InvalidInputError, match=r"tenant is not valid Unicode.*position 1"):
        check_text("t\ud800", "tenant")
    assert check_text("tenant é 🙂", "tenant") == "tenant é 🙂"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AGENTCACHE_SEMANTIC__TTL_SECONDS", "10000000000000000"),
        ("AGENTCACHE_EMBEDDINGS__TTL_SECONDS", str(MAX_TTL_SECONDS + 1)),
        ("AGENTCACHE_TOOLS__DEFAULT_TTL_SECONDS", "10000000000000000"),
        ("AGENTCACHE_TOOLS__TTL__search_web", "10000000000000000"),
    ],
)
def test_a_settings_ttl_past_the_bound_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        AgentCacheSettings()
    assert name.rsplit("__search_web", 1)[0].upper() in str(info.value)
    assert str(MAX_TTL_SECONDS) in str(info.value)


def test_a_settings_ttl_at_the_bound_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCACHE_SEMANTIC__TTL_SECONDS", str(MAX_TTL_SECONDS))
    assert AgentCacheSettings().semantic.ttl_seconds == MAX_TTL_SECONDS
