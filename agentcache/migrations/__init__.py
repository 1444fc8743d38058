"""Index migrations with zero downtime: plan, apply, rollback, status, cleanup; cache warming."""

from __future__ import annotations

from agentcache.migrations._migrator import (
    MigrationPlan,
    MigrationReport,
    MigrationStatus,
    Migrator,
)

__all__ = [
    "MigrationPlan",
    "MigrationReport",
    "MigrationStatus",
    "Migrator",
]
