-- Token buckets, taken all or nothing (see lib/token-buckets.lua).
-- KEYS[i] a bucket. ARGV[1] now (ms); ARGV[i + 1] bucket i's limit per minute.
-- Returns {1} when taken, or {0, retry after (ms), index of the empty bucket}.
--#include lib/token-buckets.lua
local capacities = {}
for i = 1, #KEYS do capacities[i] = tonumber(ARGV[i + 1]) end
return take_tokens(KEYS, capacities, tonumber(ARGV[1]))
