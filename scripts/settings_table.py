"""Print the settings table for the README (every AGENTCACHE_* variable, default, meaning).

python scripts/settings_table.py > /tmp/table.md
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agentcache.settings import AgentCacheSettings, env_var_name


def rows() -> list[tuple[str, str, str]]:
    out = []
    for group_name, group_field in AgentCacheSettings.model_fields.items():
        factory: Any = group_field.default_factory
        group = factory() if factory else None
        if not isinstance(group, BaseModel):
            continue
        for name, field in type(group).model_fields.items():
            value = getattr(group, name)
            if group_name == "pricing" and name == "models":
                value = f"{len(value)} models (see _pricing_defaults.py)"
            elif isinstance(value, dict | list) and not value:
                value = "{}" if isinstance(value, dict) else "[]"
            elif value is None:
                value = "unset"
            out.append((env_var_name((group_name, name)), f"`{value}`", field.description or ""))
    return out


def main() -> None:
    print("| variable | default | meaning |")
    print("| --- | --- | --- |")
    for var, default, meaning in rows():
        print(f"| `{var}` | {default} | {meaning} |")


if __name__ == "__main__":
    main()
