-- A step sent right behind its chat turn's admission (chat-admit.lua), in the same round trip, runs
-- only when that admission let the turn in: admission leases the turn's stream under a fresh id, so
-- the lease being open proves it. admitted(streams, lease) is true when no gate is asked for
-- (lease "") or when `lease` is among the visitor's open streams.
local function admitted(streams, lease)
  return lease == '' or redis.call('ZSCORE', streams, lease) ~= false
end
