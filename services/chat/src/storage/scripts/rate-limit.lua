-- Token buckets, taken all or nothing (see lib/token-buckets.lua).
-- Invariants: a bucket never holds more than its limit per minute, and never gives a token it does
-- not have; every bucket named gives one, or none does.
-- KEYS[i] a bucket. ARGV[1] now (ms); ARGV[i + 1] bucket i's limit per minute.
-- Returns {1} when taken, or {0, retry after (ms), index of the empty bucket}.
--#include lib/token-buckets.lua
local capacities = {}
for i = 1, #KEYS do capacities[i] = tonumber(ARGV[i + 1]) end
return take_tokens(KEYS, capacities, tonumber(ARGV[1]))
