/**
 * The Lua scripts of the Redis bus. Redis runs a script alone, so issuing an id, the idempotency
 * check, storing the event and the live PUBLISH either all happen or none do, and every
 * subscriber connection sees live events in id order. Redis does not roll a script back when a
 * command fails half-way, so the publish script first runs every command that can fail (reads,
 * with redis.pcall) and only then writes; its first write is the only one Redis may still refuse
 * (out of memory, read-only replica), and then nothing was written.
 */

/** Ids and the clock, shared by the scripts. KEYS[1] is the last id, KEYS[2] the epoch. */
const ID_CLOCK = `
local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function format_id(ms, seq)
  return string.format('%.0f-%.0f', ms, seq)
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
`;

/** Most entries one publish cuts from one channel's history: a lowered limit is reached over several publishes. */
export const TRIM_STEP = 100;

/**
 * KEYS: last id, epoch, idempotency key (or the last id again when there is none), then for the
 * global log and each recipient channel in turn: its history, its trim point.
 * ARGV: has idempotency key ("1"/"0"), max events, max age ms, idempotency window ms, type,
 * data JSON, channels joined by \x1f, fingerprint, event key prefix, trim step, then the live
 * pub/sub channel of the global log and of each recipient.
 * Returns { id, 0 } when stored and sent, { first id, 1 } for a repeat of the idempotency key,
 * { first id, 2 } when the key was used for other content; an error reply when refused.
 */
export const PUBLISH_SCRIPT = `${ID_CLOCK}
local has_key, max_events, max_age, window = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local event_type, data, channels, fingerprint = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local event_prefix, trim_step = ARGV[9], tonumber(ARGV[10])
local FIRST_HISTORY, FIRST_LIVE = 4, 11

-- 1. Reads and checks only: the first refusal is kept and nothing is written.
local refusal
local function read(command, key, ...)
  local reply = redis.pcall(command, key, ...)
  if type(reply) == 'table' and reply.err then
    refusal = refusal or (reply.err .. ' (' .. key .. ')')
    return nil
  end
  return reply
end
local function refuse(why, key)
  refusal = refusal or ('ERR ' .. why .. ' (' .. key .. ')')
end
local function later(a, b)
  if not a then return b end
  if not b or id_less(b, a) then return a end
  return b
end

if has_key then
  local seen = read('GET', KEYS[3])
  if seen then
    local newline = string.find(seen, '\\n', 1, true)
    if not newline then return { seen, 1 } end
    local seen_id = string.sub(seen, 1, newline - 1)
    if string.sub(seen, newline + 1) == fingerprint then return { seen_id, 1 } end
    return { seen_id, 2 }
  end
end
local last = read('GET', KEYS[1])
if last and not parse_id(last) then refuse('the last id is not an id', KEYS[1]) end
local first = read('GET', KEYS[2])
if first and not parse_id(first) then refuse('the epoch is not an id', KEYS[2]) end
if refusal then return redis.error_reply(refusal) end

-- Redis's clock, never going back: if it steps back, the last id's millisecond goes on counting.
local now = now_ms()
local ms, seq = now, 0
if last then
  local last_ms, last_seq = parse_id(last)
  if ms <= last_ms then ms, seq = last_ms, last_seq + 1 end
end
-- A data set without an epoch is new (first start, or a Redis that lost its data): nothing
-- before this point can be replayed from it.
local epoch
if not first then
  epoch = format_id(ms, seq)
  seq = seq + 1
end
local id = format_id(ms, seq)
local previous = epoch or last
local aged_before = format_id(now - max_age, 0)

local histories = {}
for i = FIRST_HISTORY, #KEYS, 2 do
  local history = { key = KEYS[i], trim_key = KEYS[i + 1], cut = 0 }
  history.length = read('XLEN', history.key) or 0
  if history.length == 0 then
    -- Only a new history needs its old trim point (one that outlived it); a cut always goes later.
    history.trimmed = read('GET', history.trim_key)
    if history.trimmed and not parse_id(history.trimmed) then refuse('the trim point is not an id', history.trim_key) end
  else
    local top = read('XREVRANGE', history.key, '+', '-', 'COUNT', 1)
    if top and top[1] and not id_less(top[1][1], id) then refuse('the history is ahead of the last id', history.key) end
    local aged = read('XRANGE', history.key, '-', '(' .. aged_before, 'COUNT', trim_step)
    if aged and #aged > 0 then history.cut, history.cut_through = #aged, aged[#aged][1] end
  end
  histories[#histories + 1] = history
end
if refusal then return redis.error_reply(refusal) end

-- 2. Writes, none of which can fail now.
if epoch then redis.call('SET', KEYS[2], epoch) end
redis.call('SET', KEYS[1], id)
redis.call('SET', event_prefix .. id, event_type .. '\\n' .. channels .. '\\n' .. data, 'PX', max_age)
-- A history that is new may follow one that expired with all its events: those were older than
-- the age limit and not newer than the previous id, so readers behind that point must refetch.
local expired_through = aged_before
if previous and id_less(previous, expired_through) then expired_through = previous end
for _, history in ipairs(histories) do
  local trimmed
  if history.length == 0 then trimmed = later(history.trimmed, expired_through) end
  redis.call('XADD', history.key, id, 'n', #data)
  local excess = math.min(history.length + 1 - max_events, trim_step)
  if excess > history.cut then
    history.cut_through = redis.call('XRANGE', history.key, '-', '+', 'COUNT', excess)[excess][1]
  end
  if history.cut_through then
    local cut_ms, cut_seq = parse_id(history.cut_through)
    redis.call('XTRIM', history.key, 'MINID', format_id(cut_ms, cut_seq + 1))
    trimmed = history.cut_through
  end
  redis.call('PEXPIRE', history.key, max_age)
  -- The trim point lives as long as its history (neither SET nor PEXPIRE fails on any key).
  if trimmed then redis.call('SET', history.trim_key, trimmed, 'PX', max_age)
  else redis.call('PEXPIRE', history.trim_key, max_age) end
end
-- One recipient (the common per-user event): the event itself, saving each instance a fetch.
-- Several: the id only, and each instance fetches the event once however many it watches.
local message = id
if #ARGV - FIRST_LIVE == 1 then message = id .. '\\n' .. event_type .. '\\n' .. channels .. '\\n' .. data end
for i = FIRST_LIVE + 1, #ARGV do redis.call('PUBLISH', ARGV[i], message) end
redis.call('PUBLISH', ARGV[FIRST_LIVE], id)
if has_key then redis.call('SET', KEYS[3], id .. '\\n' .. fingerprint, 'PX', window) end
return { id, 0 }
`;

/** History ids read per channel at a time while merging a page. */
const READ_CHUNK = 64;

/**
 * Runs with no-writes, so Redis itself refuses any write (and it can run on a replica).
 * KEYS: last id, epoch, then for each channel read: its history, its trim point.
 * ARGV: the position read after ("<ms>-<seq>"), max age ms, max events, max data bytes, event key prefix.
 * Returns { -1, head } on a data set with no epoch yet, { 0, head } when history does not cover
 * everything after the position, else { 1, head, more (1/0), id, stored event, id, stored event... }.
 */
export const READ_SCRIPT = `#!lua flags=no-writes
${ID_CLOCK}
local after, max_age, max_events, max_bytes, event_prefix = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local head = redis.call('GET', KEYS[1])
local first = redis.call('GET', KEYS[2])
if not first then return { -1, head } end
if id_less(after, first) then return { 0, head } end
local oldest_kept = now_ms() - max_age
local after_ms = parse_id(after)
local chunk = math.min(max_events + 1, ${READ_CHUNK})

-- A cursor per channel over the ids after the position, read a chunk at a time.
local cursors = {}
for i = 3, #KEYS, 2 do
  local trimmed = redis.call('GET', KEYS[i + 1])
  if trimmed and id_less(after, trimmed) then return { 0, head } end
  local entries = redis.call('XRANGE', KEYS[i], '(' .. after, '+', 'COUNT', chunk)
  if #entries > 0 then
    -- An event older than the age limit counts as gone, though publish has not cut it yet.
    if parse_id(entries[1][1]) < oldest_kept then return { 0, head } end
    cursors[#cursors + 1] = { key = KEYS[i], entries = entries, at = 1 }
  elseif after_ms < oldest_kept and head and id_less(after, head) and redis.call('EXISTS', KEYS[i]) == 0 then
    -- Never written, or expired because all of it aged out. Only an event newer than the reader
    -- and older than the age limit can have expired unseen.
    return { 0, head }
  end
end

local function advance(cursor)
  local entry = cursor.entries[cursor.at]
  cursor.at = cursor.at + 1
  if cursor.at > #cursor.entries and #cursor.entries == chunk then
    cursor.entries = redis.call('XRANGE', cursor.key, '(' .. entry[1], '+', 'COUNT', chunk)
    cursor.at = 1
  end
end

-- Merged by id: the oldest id any cursor holds, each once; bodies read only for what is returned.
local result = { 1, head, 0 }
local count, bytes = 0, 0
while true do
  local next_entry
  for _, cursor in ipairs(cursors) do
    local entry = cursor.entries[cursor.at]
    if entry and (not next_entry or id_less(entry[1], next_entry[1])) then next_entry = entry end
  end
  if not next_entry then break end
  local size = tonumber(next_entry[2][2])
  if count >= max_events or (count > 0 and bytes + size > max_bytes) then
    result[3] = 1
    break
  end
  local id = next_entry[1]
  local stored = redis.call('GET', event_prefix .. id)
  if not stored then return { 0, head } end
  count, bytes = count + 1, bytes + size
  result[#result + 1] = id
  result[#result + 1] = stored
  for _, cursor in ipairs(cursors) do
    local entry = cursor.entries[cursor.at]
    if entry and entry[1] == id then advance(cursor) end
  end
end
return result
`;

/**
 * KEYS: last id, epoch. Returns the newest id issued, starting the epoch first on a new data set,
 * so that a stream starting there is never behind the start of history.
 */
export const HEAD_SCRIPT = `${ID_CLOCK}
local last = redis.call('GET', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then return last end
local ms, seq = now_ms(), 0
if last then
  local last_ms, last_seq = parse_id(last)
  if last_ms and ms <= last_ms then ms, seq = last_ms, last_seq + 1 end
end
local epoch = format_id(ms, seq)
redis.call('SET', KEYS[2], epoch)
redis.call('SET', KEYS[1], epoch)
return epoch
`;
