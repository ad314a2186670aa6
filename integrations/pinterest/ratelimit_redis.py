"""The rate limiter's store when Redis is configured: each change is one atomic Lua script.

The policy is ratelimit.py's (`take`, `shifted`, the pause); these scripts do
the same on the JSON state kept in Redis, reading Redis's own clock so every
machine shares one timeline.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

_TAKE_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate = tonumber(ARGV[1]); local window = tonumber(ARGV[2])
local history = tonumber(ARGV[3]); local horizon = now + tonumber(ARGV[4])
local spacing = tonumber(ARGV[5]); local early = tonumber(ARGV[6]); local force = tonumber(ARGV[7])
local data = redis.call('GET', KEYS[1])
local state = {recent = {}, paused_until = 0}
if data then state = cjson.decode(data) end
local recent = {}
for _, t in ipairs(state.recent) do if t > now - history and t <= horizon then table.insert(recent, t) end end
table.sort(recent)
local paused_until = state.paused_until or 0
if paused_until > horizon then paused_until = 0 end
local slot = math.max(now, paused_until)
if #recent > 0 then slot = math.max(slot, recent[#recent] + spacing) end
if #recent >= rate then slot = math.max(slot, recent[#recent - rate + 1] + window) end
if force == 0 and slot > now + early then
  return {string.format('%.6f', slot - now), string.format('%.6f', now), '0'}
end
local taken = slot
if force == 1 then taken = now end
table.insert(recent, taken)
table.sort(recent)
while #recent > rate * 2 do table.remove(recent, 1) end
state.recent = recent
state.paused_until = paused_until
redis.call('SET', KEYS[1], cjson.encode(state), 'EX', 3600)
return {'0', string.format('%.6f', now), string.format('%.17g', taken)}
"""

_SHIFT_LUA = """
local data = redis.call('GET', KEYS[1])
if not data then return 0 end
local state = cjson.decode(data)
local taken = tonumber(ARGV[1]); local by = tonumber(ARGV[2])
for i, t in ipairs(state.recent) do if math.abs(t - taken) < 0.001 then state.recent[i] = t + by end end
table.sort(state.recent)
redis.call('SET', KEYS[1], cjson.encode(state), 'EX', 3600)
return 1
"""

_PAUSE_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local data = redis.call('GET', KEYS[1])
local state = {recent = {}, paused_until = 0}
if data then state = cjson.decode(data) end
if #state.recent == 0 then state.recent = cjson.decode('[]') end
local paused_until = state.paused_until or 0
if paused_until > now + tonumber(ARGV[2]) then paused_until = 0 end
state.paused_until = math.max(paused_until, now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], cjson.encode(state), 'EX', 3600)
return 1
"""


@lru_cache(maxsize=1)
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _name(key: str) -> str:
    return f"ratelimit:{key}"


def take(key: str, *, rate: int, window: float, history: float, horizon: float, spacing: float, early: float,
         force: bool) -> tuple[float, float, float]:
    """(seconds to wait, 0 when taken; Redis's time now; the time taken)."""
    wait, now, taken = _redis().eval(_TAKE_LUA, 1, _name(key), rate, window, history, horizon, spacing, early,
                                     int(force))
    return float(wait), float(now), float(taken)


def shift(key: str, taken: float, by: float) -> None:
    _redis().eval(_SHIFT_LUA, 1, _name(key), repr(taken), by)


def pause(key: str, seconds: float, horizon: float) -> None:
    _redis().eval(_PAUSE_LUA, 1, _name(key), seconds, horizon)


def delete(key: str) -> None:
    _redis().delete(_name(key))
