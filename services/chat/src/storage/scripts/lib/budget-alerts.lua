-- Budget alerts, fired in the step that moves a budget (reserve: a cap found spent; settle: a counter
-- crossing a threshold). Invariant: each threshold of each scope fires once per period and cap (HSETNX
-- of a marker keyed by scope, user, threshold and cap: a new period or another cap re-arms it).
-- event_emitter(events, endpoints, prefix, now, agentId) returns emit(type, data), which appends the
-- event to the organization's event stream (read by the webhook delivery worker) only when it has an
-- endpoint; its id is `prefix` and its number among this script's events.
-- fire_thresholds(alert, scope, subject, cap, spent, every) marks and emits each threshold of
-- `alert.thresholds` ("" subject: no user) that `spent` reached, or every one not fired yet.
-- `alert` holds emit, markers, thresholds (none: the default), now, periodId and resetsAt.
local function event_emitter(events, endpoints, prefix, now, agentId)
  local subscribed = redis.call('ZCARD', endpoints) > 0
  local emitted = 0
  return function(eventType, data)
    if not subscribed then return end
    emitted = emitted + 1
    data.agentId = agentId
    redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'id', prefix .. string.format('%02d', emitted),
      'type', eventType, 'occurredAt', now, 'data', cjson.encode(data))
  end
end

local function fire_thresholds(alert, scope, subject, cap, spent, every)
  for threshold in string.gmatch(alert.thresholds or '50,80,100', '%d+') do
    local percent = tonumber(threshold)
    if every or spent * 100 >= percent * cap then
      local marker = scope .. ':' .. subject .. ':' .. threshold .. ':' .. cap
      if redis.call('HSETNX', alert.markers, marker, alert.now) == 1 then
        alert.emit('budget.threshold_reached', { scope = scope, externalUserId = subject ~= '' and subject or nil,
          thresholdPercent = percent, limitUsd = cap / 1000000, spentUsd = spent / 1000000,
          periodId = alert.periodId, resetsAt = alert.resetsAt })
      end
    end
  end
end
