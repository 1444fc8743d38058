"""The Lua script of the Redis-side counter flush (see ``_flush``)."""

from __future__ import annotations

import hashlib

__all__ = ["FLUSH_SCRIPT", "FLUSH_SHA"]

# A flush is a few EVALSHA calls of this script, each adding the deltas of up
# to FLUSH_SERIES_PER_CALL (_flush) series: ARGV holds, per key, the count of integer
# fields, their (name, delta) pairs, then the same for float fields. A field
# the server cannot increment (another type under the key) is skipped and
# counted in the reply, so one bad key neither aborts the call half-written
# nor makes a retry count the rest twice. The shebang makes the server refuse
# the whole call up front under OOM (nothing written, kept for the next flush).
FLUSH_SCRIPT = """#!lua
local i, failed = 1, 0
for k = 1, #KEYS do
  for _, command in ipairs({'HINCRBY', 'HINCRBYFLOAT'}) do
    local n = tonumber(ARGV[i])
    i = i + 1
    for _ = 1, n do
      local ok = redis.pcall(command, KEYS[k], ARGV[i], ARGV[i + 1])
      if type(ok) == 'table' and ok.err then failed = failed + 1 end
      i = i + 2
    end
  end
end
return failed
"""
FLUSH_SHA = hashlib.sha1(FLUSH_SCRIPT.encode("utf-8")).hexdigest()
