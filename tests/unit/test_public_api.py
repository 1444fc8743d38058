from __future__ import annotations

import agentcache


def test_all_is_sorted_unique_and_importable() -> None:
    names = agentcache.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(agentcache, name), name


def test_every_public_name_is_in_all() -> None:
    public = {n for n in vars(agentcache) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(agentcache, n)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(agentcache.__all__) - {"__version__"}


def test_exception_tree() -> None:
    assert issubclass(agentcache.InvalidInputError, ValueError)
    for name in agentcache.__all__:
        obj = getattr(agentcache, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, agentcache.AgentCacheError), name
