-- Deletes a key only while it still holds the given value.
-- Invariant: a marker is deleted only by whoever set it, never after another owner replaced it.
-- KEYS[1] the key; ARGV[1] the value it must hold. Returns 1 when deleted, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
