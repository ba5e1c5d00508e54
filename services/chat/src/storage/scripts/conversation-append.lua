-- Appends messages to a conversation, creating it on first use, in one step.
-- Invariants: a conversation belongs to one agent and one owner for its life (anyone else finds
-- nothing); its messages never outgrow the most allowed, counting the room kept for an answer still
-- to come; a user message sent again (same id) is never stored twice; the live-answer marker is set
-- only together with the messages it answers.
-- KEYS[1] conversation hash, KEYS[2] its messages list, KEYS[3] the agent's conversation index,
-- KEYS[4] the conversation's live-answer marker, KEYS[5] the visitor's open streams (the admission
-- gate: lib/admission-gate.lua)
-- ARGV[1] agent id, ARGV[2] owner ("visitor:<id>" or "user:<id>"), ARGV[3] conversation id,
-- ARGV[4] now (ISO), ARGV[5] now (ms), ARGV[6] TTL seconds (0: keep), ARGV[7] max messages,
-- ARGV[8] flags: "create" (a missing conversation may be created), "history" (return the history),
-- ARGV[9] title for a new one,
-- ARGV[10] "drop-trailing-assistant" to remove a last assistant message first (regenerate),
-- ARGV[11] how many messages the caller will still append later (room to keep for the answer),
-- ARGV[12] the marker of the answer about to stream ("" for none), ARGV[13] its lifetime (ms):
-- set on KEYS[4] (the conversation's live answer) when the messages are appended, never on a repeat
-- (which follows the answer already live), ARGV[14] the stream lease the turn's admission takes ("":
-- no gate; when the lease is not open, nothing is done and {"not_admitted"} is returned),
-- ARGV[15..] the messages (JSON) to append.
-- A user message sent again (a retry after a lost response, a reload: the client fixes its id before
-- sending) is never stored twice: {"repeat", <messages…>} when it is the last message (not answered
-- yet), {"answered"} when the message after it is its answer.
-- Returns {"ok", <messages…>} with the whole history after the append (with "history"), or {"not_found"} when the
-- conversation belongs to another agent or owner (or is missing and may not be created), or
-- {"full", count} when the conversation has no room left.
--#include lib/admission-gate.lua
if not admitted(KEYS[5], ARGV[14]) then return { 'not_admitted' } end
local conversation, messages, index = KEYS[1], KEYS[2], KEYS[3]
local agentId, owner = ARGV[1], ARGV[2]
local ttl, maxMessages, reserve = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[11])

local existing = redis.call('HMGET', conversation, 'agentId', 'owner')
if existing[1] then
  if existing[1] ~= agentId or existing[2] ~= owner then return { 'not_found' } end
else
  if not string.find(ARGV[8], 'create', 1, true) then return { 'not_found' } end
  redis.call('HSET', conversation, 'id', ARGV[3], 'agentId', agentId, 'owner', owner,
    'title', ARGV[9], 'createdAt', ARGV[4], 'messageCount', 0)
end

if ARGV[10] == 'drop-trailing-assistant' then
  local last = redis.call('LINDEX', messages, -1)
  if last and cjson.decode(last)['role'] == 'assistant' then redis.call('RPOP', messages) end
end

local first = 15
local adding = #ARGV - first + 1
local function history(status)
  local all = redis.call('LRANGE', messages, 0, -1)
  table.insert(all, 1, status)
  return all
end

if existing[1] and adding == 1 and ARGV[10] ~= 'drop-trailing-assistant' then
  local new = cjson.decode(ARGV[first])
  if new.role == 'user' and type(new.id) == 'string' then
    -- Stored messages are written by the service with `id` then `role` first: a prefix says who it is.
    local prefix = '{"id":' .. cjson.encode(new.id) .. ',"role":"user"'
    local last = redis.call('LINDEX', messages, -1)
    if last and string.sub(last, 1, #prefix) == prefix then return history('repeat') end
    local before = redis.call('LINDEX', messages, -2)
    if before and string.sub(before, 1, #prefix) == prefix then return { 'answered' } end
  end
end

local count = redis.call('LLEN', messages)
if count + adding + reserve > maxMessages then
  if not existing[1] then redis.call('DEL', conversation) end
  return { 'full', count }
end
for i = first, #ARGV do redis.call('RPUSH', messages, ARGV[i]) end
if ARGV[12] ~= '' then redis.call('SET', KEYS[4], ARGV[12], 'PX', ARGV[13]) end

redis.call('HSET', conversation, 'updatedAt', ARGV[4], 'messageCount', count + adding)
redis.call('ZADD', index, tonumber(ARGV[5]), ARGV[3])
if ttl > 0 then
  -- Conversations idle past the retention have expired: drop them from the index as well.
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (tonumber(ARGV[5]) - ttl * 1000))
  redis.call('EXPIRE', conversation, ttl)
  redis.call('EXPIRE', messages, ttl)
end

if not string.find(ARGV[8], 'history', 1, true) then return { 'ok' } end
return history('ok')
