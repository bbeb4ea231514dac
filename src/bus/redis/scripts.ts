/**
 * The Lua scripts that make the Redis bus atomic. Redis runs a script alone, so issuing an id,
 * the idempotency check, the history append and the live PUBLISH either all happen or none do,
 * and every subscriber connection sees live events in id order.
 */

/** Ids, the clock and the epoch, shared by both scripts. KEYS[1] is the last id, KEYS[2] the epoch. */
const ID_CLOCK = `
local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function id_less(a, b)
  local ams, aseq = parse_id(a)
  local bms, bseq = parse_id(b)
  if ams ~= bms then return ams < bms end
  return aseq < bseq
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Redis's clock, never going back: if it steps back, the last id's millisecond goes on counting.
local function next_id(now)
  local ms, seq = now, 0
  local last = redis.call('GET', KEYS[1])
  if last then
    local last_ms, last_seq = parse_id(last)
    if ms <= last_ms then ms, seq = last_ms, last_seq + 1 end
  end
  local id = string.format('%.0f-%.0f', ms, seq)
  redis.call('SET', KEYS[1], id)
  return id
end

-- A data set without an epoch is new (first start, or a Redis that lost its data): nothing
-- before this point can be replayed from it.
local function epoch(now)
  local value = redis.call('GET', KEYS[2])
  if not value then
    value = next_id(now)
    redis.call('SET', KEYS[2], value)
  end
  return value
end

-- Trims with XDEL, oldest first, so that XINFO's max-deleted-entry-id tells readers how far
-- history has been cut (XTRIM does not record it).
local function delete_entries(key, entries)
  if #entries == 0 then return end
  local ids = {}
  for i, entry in ipairs(entries) do ids[i] = entry[1] end
  redis.call('XDEL', key, unpack(ids))
end

local function trim(key, max_events, oldest_kept_ms)
  delete_entries(key, redis.call('XRANGE', key, '-', string.format('(%.0f-0', oldest_kept_ms), 'COUNT', max_events))
  local excess = redis.call('XLEN', key) - max_events
  if excess > 0 then delete_entries(key, redis.call('XRANGE', key, '-', '+', 'COUNT', excess)) end
end
`;

/**
 * KEYS: last id, epoch, idempotency key (or the last id again when there is none), then the
 * history stream of each recipient channel.
 * ARGV: has idempotency key ("1"/"0"), max events, max age ms, idempotency window ms, type,
 * data JSON, channels joined by \x1f, then the live pub/sub channel of each recipient.
 * Returns { id, duplicate (1/0) }.
 */
export const PUBLISH_SCRIPT = `${ID_CLOCK}
local has_key, max_events, max_age = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
if has_key then
  local seen = redis.call('GET', KEYS[3])
  if seen then return { seen, 1 } end
end
local now = now_ms()
epoch(now)
local previous = redis.call('GET', KEYS[1])
local id = next_id(now)
if has_key then redis.call('SET', KEYS[3], id, 'PX', ARGV[4]) end
-- A new key may follow one that expired with all its events: those were older than the age limit
-- and not newer than the previous id, so readers behind that point must refetch.
local expired_through = string.format('%.0f-0', now - max_age)
if previous and id_less(previous, expired_through) then expired_through = previous end
for i = 4, #KEYS do
  local fresh = redis.call('EXISTS', KEYS[i]) == 0
  redis.call('XADD', KEYS[i], id, 't', ARGV[5], 'd', ARGV[6], 'c', ARGV[7])
  if fresh then redis.call('XSETID', KEYS[i], id, 'MAXDELETEDID', expired_through) end
  trim(KEYS[i], max_events, now - max_age)
  redis.call('PEXPIRE', KEYS[i], max_age)
end
local message = id .. '\\n' .. ARGV[5] .. '\\n' .. ARGV[7] .. '\\n' .. ARGV[6]
for i = 8, #ARGV do redis.call('PUBLISH', ARGV[i], message) end
return { id, 0 }
`;

/**
 * KEYS: last id, epoch, then the history stream of each channel read.
 * ARGV: the position read after ("<ms>-<seq>"), max events, max age ms.
 * Returns { complete (1/0), head, entries of each stream... } (entries only when complete).
 */
export const READ_SCRIPT = `${ID_CLOCK}
local after, max_events, max_age = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local first = epoch(now)
local head = redis.call('GET', KEYS[1])
if id_less(after, first) then return { 0, head } end
local after_ms = parse_id(after)
local result = { 1, head }
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    -- Never written, or expired because all of it aged out. Only an event newer than the reader
    -- and older than the age limit can have expired unseen.
    if after_ms < now - max_age and head and id_less(after, head) then return { 0, head } end
  else
    trim(KEYS[i], max_events, now - max_age)
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for j = 1, #info, 2 do
      if info[j] == 'max-deleted-entry-id' and id_less(after, info[j + 1]) then return { 0, head } end
    end
    table.insert(result, redis.call('XRANGE', KEYS[i], '(' .. after, '+'))
  end
end
return result
`;

/**
 * KEYS: last id, epoch. Returns the newest id issued, starting the epoch first on a new data set,
 * so that a stream starting there is never behind the start of history.
 */
export const HEAD_SCRIPT = `${ID_CLOCK}
epoch(now_ms())
return redis.call('GET', KEYS[1])
`;
