-- Gives back a hold unused (its call was never made). Keeps reserved[f] = the sum of open holds.
-- KEYS[1] reserved totals, KEYS[2] open holds, KEYS[3] hold data; ARGV[1] hold id. Returns 1.
--#include lib/holds.lua
drop_hold(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return 1
