"""The semantic cache's Lua scripts (each runs atomically in the entry's slot)."""

from __future__ import annotations

from agentcache._limits import MAX_TTL_SECONDS

# Per-hit state never touches the indexed entry hash: any write to it makes
# RediSearch re-index the whole document, HNSW vector included (0.4 ms at 1k
# entries, ~1 ms at 100k). It lives in two per-tenant keys in the entry's slot:
#   KEYS[2] the LRU sorted set: entry id -> last store or hit time (the last-hit time)
#   KEYS[3] the hits hash: entry id -> hit count, "<id>:sim" -> last hit's similarity
# Both expire like the tenant's newest entry; fields of entries that expired on
# their own stay until evicted past the cap, invalidated, or the key expires.

# Atomic store: write the entry, set its TTL, mark it recently used, and
# evict the tenant's least recently hit entries past the cap. A new entry's
# hit count starts at 0; a replacement (same prompt and scope) keeps its count.
# ARGV: now, ttl (whole seconds, 0: none), cap (0: none), entry id, the tenant's
# entry prefix, then field/value pairs. Every argument is checked before the
# first write: a refused EXPIRE after the HSET would leave an entry that never
# expires and sits outside the LRU set (never evicted).
STORE_SCRIPT = """
local now, ttl, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function whole(n, high)
  return n ~= nil and n == n and n >= 0 and n <= high and n == math.floor(n)
end
if now == nil or now ~= now or now < 0 or now == math.huge then
  return redis.error_reply('ERR agentcache store: bad time ' .. tostring(ARGV[1]))
end
if not whole(ttl, MAX_TTL) then
  return redis.error_reply('ERR agentcache store: ttl must be a whole number of seconds in ' ..
    '[0, MAX_TTL], got ' .. tostring(ARGV[2]))
end
if not whole(cap, 9007199254740991) then
  return redis.error_reply('ERR agentcache store: bad cap ' .. tostring(ARGV[3]))
end
if #ARGV < 7 or (#ARGV - 5) % 2 ~= 0 or ARGV[4] == '' then
  return redis.error_reply('ERR agentcache store: bad entry id or field list')
end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
local lru_existed = redis.call('EXISTS', KEYS[2])
local hits_existed = redis.call('EXISTS', KEYS[3])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
if existed == 0 then
  redis.call('HSET', KEYS[3], ARGV[4], 0)
  redis.call('HDEL', KEYS[3], ARGV[4] .. ':sim')
else
  redis.call('HSETNX', KEYS[3], ARGV[4], 0)
end
local function follow(key, key_existed)
  if ttl > 0 then
    local left = redis.call('TTL', key)
    if key_existed == 0 or (left >= 0 and left < ttl) then redis.call('EXPIRE', key, ttl) end
  else
    redis.call('PERSIST', key)
  end
end
follow(KEYS[2], lru_existed)
follow(KEYS[3], hits_existed)
local evicted = {}
if cap > 0 then
  while redis.call('ZCARD', KEYS[2]) > cap do
    local popped = redis.call('ZPOPMIN', KEYS[2])
    local id = popped[1]
    if id == ARGV[4] then
      redis.call('ZADD', KEYS[2], ARGV[1], id)
      break
    end
    redis.call('HDEL', KEYS[3], id, id .. ':sim')
    if redis.call('DEL', ARGV[5] .. id) == 1 then table.insert(evicted, id) end
  end
end
return {existed, evicted}
""".replace("MAX_TTL", str(MAX_TTL_SECONDS))

# A served hit (KEYS: entry, LRU set, hits hash; ARGV: now, id, similarity, payload
# fields): bump the count, record the similarity and the LRU time; the entry is only
# read. Returns the payload and the count after this hit (0: the entry is gone).
_BUMP = """
hits = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2] .. ':sim', SIM)
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
if hits == 1 and redis.call('TTL', KEYS[3]) == -1 then
  -- Made by this hit (an entry stored before counts lived here): expire with the LRU set.
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 then redis.call('PEXPIRE', KEYS[3], left) end
end
"""
TOUCH_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hits
BUMP
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
table.insert(values, hits)
return values
""".replace("BUMP", _BUMP.replace("SIM", "ARGV[3]"))

# A served hit's bookkeeping, sent later with the cache's next command (KEYS: entry,
# LRU set, hits hash; ARGV: now, id, similarity). Nothing for an entry gone since the
# search (invalidated, evicted, expired): no LRU member or count outlives its entry.
HIT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hits
BUMP
return hits
""".replace("BUMP", _BUMP.replace("SIM", "ARGV[3]"))

# The lookup's search, read-only (it runs on a full server and on a replica): the
# FT.SEARCH (ARGV[3..]) and, for each row, in the same atomic step: its hit count
# (-1: the key is gone or expired, never served) and, for rows within distance
# ARGV[1] of the query (candidates the policy could accept), the payload; the
# others carry none. KEYS[1]: the tenant's hits hash; ARGV[2]: the distance field.
SEARCH_SCRIPT = """#!lua flags=no-writes
local radius = tonumber(ARGV[1])
local reply = redis.call('FT.SEARCH', unpack(ARGV, 3))
local extra = {}
for i = 2, #reply, 2 do
  local key, row = reply[i], reply[i + 1]
  local info = {-1}
  if redis.call('EXISTS', key) == 1 then
    info[1] = tonumber(redis.call('HGET', KEYS[1], string.match(key, '[^:]+$'))) or 0
    local distance
    for j = 1, #row - 1, 2 do
      if row[j] == ARGV[2] then distance = tonumber(row[j + 1]) end
    end
    if distance ~= nil and distance <= radius then
      local payload = redis.call('HMGET', key, 'response', 'metadata')
      info[2], info[3] = payload[1], payload[2]
    end
  end
  extra[#extra + 1] = info
end
return {reply, extra}
"""

# Exact repeat (ARGV: now, id, touch flag, oldest insert time served ('': any), fields):
# the entry's fields and its hit count, bumped unless in shadow mode, in one round trip.
# An entry stored before the oldest time (a lookup's max_age) is a miss, left untouched.
EXACT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[4] ~= '' then
  local at = tonumber(redis.call('HGET', KEYS[1], 'inserted_at'))
  if at == nil or at < tonumber(ARGV[4]) then return false end
end
local hits
if ARGV[3] == '1' then
BUMP
else
  hits = tonumber(redis.call('HGET', KEYS[3], ARGV[2])) or 0
end
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 5))
table.insert(values, hits)
return values
""".replace("BUMP", _BUMP.replace("SIM", "'1'"))


# Feedback, compare-and-set: write the policy's update only if the fields it was
# computed from are unchanged, so concurrent feedback never drops an observation.
# ARGV: n, n field names, their expected values ('' = absent), then field/value pairs.
# Returns -1 (entry gone), 0 (changed meanwhile: recompute and retry) or 1 (written).
FEEDBACK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = tonumber(ARGV[1])
for i = 1, n do
  if (redis.call('HGET', KEYS[1], ARGV[1 + i]) or '') ~= ARGV[1 + n + i] then return 0 end
end
if #ARGV > 1 + 2 * n then redis.call('HSET', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return 1
"""
# Attempts before a contended feedback gives up (each loser retries after a winner wrote).
FEEDBACK_ATTEMPTS = 64
