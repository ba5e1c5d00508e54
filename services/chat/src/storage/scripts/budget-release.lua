-- Gives back a hold unused (its call was never made).
-- Invariants: reserved[f] = Σ open holds on f; spent + reserved ≤ cap in every scope (giving back
-- only lowers reserved). A hold already gone (settled, released or charged at expiry) changes nothing.
-- KEYS[1] reserved totals, KEYS[2] open holds, KEYS[3] hold data; ARGV[1] hold id. Returns 1.
--#include lib/holds.lua
drop_hold(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return 1
