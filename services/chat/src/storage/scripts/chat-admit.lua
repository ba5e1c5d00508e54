-- Admits an anonymous chat request in one step: checks its embed key is still live and its origin on
-- a verified domain, reads its agent, takes a token from each of its rate limits (the agent's own
-- limits, else the service's defaults), and leases one of the visitor's concurrent streams.
-- Invariant: nothing is taken when anything refuses, and a refused key or origin is refused before
-- the agent or any limit is looked at (the order of the separate checks).
-- KEYS[1] the agent record, KEYS[2] the visitor's open streams, KEYS[3] the embed key's bucket,
-- KEYS[4] the client IP's bucket, KEYS[5] the visitor's bucket, KEYS[6] the embed key's entity
-- (revocation deletes it first), KEYS[7] the agent's verified domains (a set).
-- ARGV[1] now (ms), ARGV[2] lease expiry (ms), ARGV[3] lease id, ARGV[4..7] the defaults: streams at
-- once, then per minute for the embed key, the IP and the visitor; ARGV[8] the origin's rule:
-- "admitted" (no domain needed), "refused" (refused whatever the domains), or "any-of" (admitted when
-- any of ARGV[9..] is in KEYS[7]).
-- Returns {"ok", agent}, {"revoked"}, {"origin"}, {"no_agent"}, {"limited", agent, retry after (ms),
-- bucket index (1..3)} or {"streams", agent, most streams}.
--#include lib/token-buckets.lua
--#include lib/stream-lease.lua
if redis.call('EXISTS', KEYS[6]) == 0 then return { 'revoked' } end
if ARGV[8] == 'refused' then return { 'origin' } end
if ARGV[8] == 'any-of' then
  local verified = false
  for index = 9, #ARGV do
    if redis.call('SISMEMBER', KEYS[7], ARGV[index]) == 1 then
      verified = true
      break
    end
  end
  if not verified then return { 'origin' } end
end
local raw = redis.call('GET', KEYS[1])
if not raw then return { 'no_agent' } end
local limits = cjson.decode(raw).rateLimits
local function limit(name, default)
  local value = type(limits) == 'table' and limits[name] or nil
  if value == nil or value == cjson.null then return tonumber(default) end
  return tonumber(value)
end
local now = tonumber(ARGV[1])
local taken = take_tokens({ KEYS[3], KEYS[4], KEYS[5] }, {
  limit('embedKeyPerMinute', ARGV[5]),
  limit('ipPerMinute', ARGV[6]),
  limit('visitorPerMinute', ARGV[7]),
}, now)
if taken[1] == 0 then return { 'limited', raw, taken[2], taken[3] } end
local most = limit('maxStreamsPerVisitor', ARGV[4])
if acquire_stream(KEYS[2], now, ARGV[2], ARGV[3], most) == 0 then return { 'streams', raw, most } end
return { 'ok', raw }
