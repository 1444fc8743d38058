"""The tool cache's Lua scripts and the reply codes the core reads.

The value key and the lock key of one call share a hash tag (one slot), so
each script touches a single slot and runs on a cluster too.
"""

from __future__ import annotations

# Returns [HIT, value] on a hit, [TAKEN] when this caller took the lock, [0]
# when another caller holds it.
ACQUIRE_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0}
"""
HIT, TAKEN = 1, 2
# Store the value; release the lock only if this caller still owns it.
STORE_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
