"""The Redis ACL rules of a user that serves one tenant (docs/operations.md).

``tenant_acl_rules`` is the single source of the recipe: the operations guide
prints ``tenant_acl_setuser("tenant-acme", "acme")`` verbatim and the
integration tests create the user from the same rules, so the documented
recipe and the tested one cannot drift.

What the rules grant, and why:

* read/write on the tenant's own keys in every layer (``{prefix}:*:{tenant}:*``:
  semantic entries and their bookkeeping, tool results and locks, metrics);
* read/write on the index *name* (the search module checks ``FT.SEARCH`` and
  ``FT.INFO`` against the key patterns) and read on the index metadata;
* read-only on the shared embedding vectors: they are keyed by text, not by
  tenant, so a user that could write them could plant a wrong vector that
  every other tenant would then search with;
* the data commands of the layers (``@read @write @hash @sortedset @keyspace
  @transaction``), ``EVALSHA`` and loading/probing scripts.

And what they take away again: every ``@dangerous`` command (``FLUSHALL``,
``FLUSHDB``, ``SWAPDB``, ``KEYS``, ``CONFIG``, ``DEBUG``, ``SHUTDOWN``,
``ACL``, ``SAVE``, ``SORT``, ``RESTORE``, ``MIGRATE``...), ``SCRIPT FLUSH``
and ``SCRIPT KILL`` (keyless, not in ``@dangerous``), every ``FUNCTION``
subcommand and ``FCALL`` (the library uses none; ``FUNCTION FLUSH``,
``DELETE`` and ``RESTORE`` are keyless writes outside ``@dangerous``), and
``RANDOMKEY``. Commands run inside a script are checked against the same key
patterns, declared or not, so a script cannot reach another tenant's keys.
"""

from __future__ import annotations

from agentcache._redis import keys as _keys

__all__ = ["tenant_acl_rules", "tenant_acl_setuser"]


def tenant_acl_rules(tenant: str, prefix: str = "ac") -> list[str]:
    """The ``ACL SETUSER`` rules (after ``on`` and the password) for ``tenant``'s user.

    Order matters: Redis applies the rules left to right, so the ``-`` rules
    come after the categories they carve out of.
    """
    own = _keys.tenant_pattern(prefix, "*", _keys.validate_id(tenant, "tenant"))
    return [
        "resetkeys",
        "resetchannels",
        f"~{own}",
        f"~{_keys.index_alias_pattern(prefix)}",
        f"%R~{_keys.meta_pattern(prefix)}",
        f"%R~{prefix}:{_keys.EMBEDDINGS}:*",
        "-@all",
        "+@read",
        "+@write",
        "+@hash",
        "+@sortedset",
        "+@keyspace",
        "+@transaction",
        "+evalsha",
        "+script|load",
        "+script|exists",
        # Carve out the keyless destructive and administrative commands.
        "-@dangerous",
        "-@admin",
        "-flushall",
        "-flushdb",
        "-swapdb",
        "-keys",
        "-randomkey",
        "-script|flush",
        "-script|kill",
        "-function",
        "-fcall",
        "-fcall_ro",
        # Connection set-up, the module probe and the search commands.
        "+ping",
        "+hello",
        "+select",
        "+client|setname",
        "+client|setinfo",
        "+module|list",
        "+ft.search",
        "+ft.info",
        "+ft._list",
    ]


def tenant_acl_setuser(
    user: str, tenant: str, prefix: str = "ac", password: str = "use-a-long-random-secret"
) -> str:
    """The whole ``ACL SETUSER`` command for ``tenant``, wrapped as the docs print it."""
    rules = tenant_acl_rules(tenant, prefix)
    lines = [f"ACL SETUSER {user} on >{password}"]
    for rule in rules:
        # Greedy wrap at 80 columns, continuation lines indented.
        if len(lines[-1]) + 1 + len(rule) + 2 > 80:
            lines.append("   ")
        lines[-1] += " " + rule
    return " \\\n".join(lines)
