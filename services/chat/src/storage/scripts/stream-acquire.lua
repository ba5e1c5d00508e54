-- A lease on one of a visitor's concurrent chat streams (see lib/stream-lease.lua).
-- Invariant: a visitor holds at most ARGV[4] leases that have not expired.
-- KEYS[1] the visitor's open streams. ARGV[1] now (ms), ARGV[2] lease expiry (ms), ARGV[3] stream
-- id, ARGV[4] the most streams at once. Returns 1 when leased, 0 when the visitor has the most open.
--#include lib/stream-lease.lua
return acquire_stream(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
