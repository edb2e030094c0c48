-- token_bucket.lua: the only code that reads or changes a tbdash token bucket.
--
-- A port of limiter/model.py (a differential test holds them equal). All state
-- is integers; the clock is Redis TIME in microseconds, never the caller's.
--
-- KEYS[1]      the bucket hash, <prefix>:{<user>}   (one key: one Cluster slot)
-- ARGV[1]      operation: acquire | peek | configure | unconfigure | reset | delete
-- ARGV[2]      "<max_tokens> <burst> <refill_count> <interval_us> <idle_ms>": the caller's
--              default settings (in force unless an operator configured the bucket), and
--              how long a full bucket without operator settings is kept before it expires
--              (a missing key reads as a new bucket: max_tokens tokens)
-- acquire:     ARGV[3] n (tokens, 1..ceiling)   ARGV[4] request id ("" for none): a retry
--              of the same request id returns the first answer instead of debiting twice
-- configure:   ARGV[3] "<max_tokens> <burst> <refill_count> <interval_us>": the operator's
--              settings; they persist until unconfigure or delete. ARGV[4] "1" (the default
--              when absent) creates a missing bucket, full at the operator's max_tokens;
--              "0" leaves a missing bucket missing (nothing written, reply nil)
--
-- Reply of acquire, one string (it is the hot path; a string parses fastest):
--   "<code> <allowed> <tokens> <wait_us> <ceiling> <now_us>"
--   code 0 = ok, 1 = n is larger than the ceiling (nothing written), 2 = replayed request id
-- Reply of delete: 1 if a bucket was deleted, 0 if there was none.
-- Reply of peek, configure, unconfigure, reset (nil for a missing bucket, except
-- configure with ARGV[4] "1"; nothing is written when the reply is nil):
--   { 0, 0, tokens, 0, max_tokens, burst, refill_count, interval_us,
--     granted, denied, operator, now_us, anchor_us, default_changes, other_default }
--   default_changes: how many times a caller's default replaced a different stored
--   default (callers disagree); other_default: the last default so replaced, as
--   "<max_tokens> <burst> <refill_count> <interval_us>", or "" if none ever was.
-- Errors: "ERR token_bucket: ..." for bad arguments, a wrong-type key or corrupt fields;
-- they are raised before the first write, so a bad key is never half-changed.
--
-- Hash fields: tokens anchor_us max_tokens burst refill_count interval_us operator
--              granted denied req ("<request id> <allowed> <wait_us>" of the last consume)
--              default_changes other_default (only once callers disagreed)

local MAX_SAFE = 9007199254740991
local key = KEYS[1]
local op = ARGV[1]

local function fail(msg)
  return redis.error_reply('token_bucket: ' .. msg)
end

-- A whole number in [lo, MAX_SAFE] written as plain decimal digits, or nil.
-- (tonumber alone would take "0x3", " 3", "3e0": never what this script writes.)
local function int(s, lo)
  if not s or not string.find(s, '^%d+$') then return nil end
  local v = tonumber(s)
  if v < lo or v > MAX_SAFE then return nil end
  return v
end

local function ceil_div(a, b)
  local q = math.floor(a / b)
  if q * b < a then q = q + 1 end
  return q
end

local SETTINGS_RULES = ' (max_tokens>=1 burst>=0 refill_count>=1 interval_us>=1000)'

-- Settings from four strings; nil plus a message when invalid.
local function settings(mt, b, rc, iv, what)
  local s = { max = int(mt, 1), burst = int(b, 0), count = int(rc, 1), interval = int(iv, 1000) }
  if not (s.max and s.burst and s.count and s.interval) then
    return nil, what .. ' settings are not valid integers' .. SETTINGS_RULES
  end
  s.ceiling = s.max + s.burst
  if s.ceiling > MAX_SAFE or ceil_div(s.ceiling, s.count) * s.interval > MAX_SAFE then
    return nil, what .. ' settings exceed 2^53'
  end
  return s
end

-- Settings from one "<max_tokens> <burst> <refill_count> <interval_us>[ <extra>]" argument.
local function settings_arg(arg, what, extra)
  local pattern = extra and '^(%d+) (%d+) (%d+) (%d+) (%d+)$' or '^(%d+) (%d+) (%d+) (%d+)$'
  local mt, b, rc, iv, x = string.match(arg or '', pattern)
  if not mt then
    return nil, what .. ' settings must be "max_tokens burst refill_count interval_us' ..
      (extra and ' ' .. extra or '') .. '"' .. SETTINGS_RULES
  end
  local s, err = settings(mt, b, rc, iv, what)
  if s then s.strings = { mt, b, rc, iv } end
  return s, err, x
end

local function same(a, b)
  return a.max == b.max and a.burst == b.burst and a.count == b.count and a.interval == b.interval
end

-- model.refill
local function refill(tokens, anchor, s, now)
  if tokens >= s.ceiling then return s.ceiling, now end
  local elapsed = now - anchor
  if elapsed < 0 then elapsed = 0 end -- a clock that stepped back (failover) adds nothing
  local ticks = math.floor(elapsed / s.interval)
  if ticks >= ceil_div(s.ceiling - tokens, s.count) then return s.ceiling, now end
  return tokens + ticks * s.count, anchor + ticks * s.interval
end

-- model.wait_us
local function wait_for(tokens, anchor, s, n, now)
  local missing = n - tokens
  if missing <= 0 then return 0 end
  return anchor + ceil_div(missing, s.count) * s.interval - now
end

-- BEGIN mul_div (tests/test_script_arithmetic.py runs this block on its own)
-- q, r with a * b = q * c + r and 0 <= r < c, exactly, for integers 0 <= a <= c and
-- 1 <= b, c <= MAX_SAFE. a * b may exceed 2^53, where doubles are no longer exact,
-- so the product is built bit by bit of b, keeping the remainder below c: every
-- intermediate value stays an integer below 2^53.
local function mul_div(a, b, c)
  local p = a * b
  if p <= MAX_SAFE then -- exact (a larger true product rounds to >= 2^53)
    local r = math.fmod(p, c) -- fmod is exact
    return (p - r) / c, r
  end
  local bit = 1
  while bit * 2 <= b do bit = bit * 2 end
  local q, r = 0, 0
  while bit >= 1 do
    q = q * 2 -- (q, r) := 2 * (q, r)
    if r >= c - r then r, q = r - (c - r), q + 1 else r = r + r end
    if b >= bit then -- add a for this bit of b
      b = b - bit
      if r >= c - a then r, q = r - (c - a), q + 1 else r = r + a end
    end
    bit = bit / 2
  end
  return q, r
end
-- END mul_div

-- model.scaled_elapsed: floor(elapsed * new_interval / old_interval), |elapsed| <= old_interval
local function scaled_elapsed(elapsed, old, new)
  if elapsed >= 0 then return (mul_div(elapsed, new.interval, old.interval)) end
  local q, r = mul_div(-elapsed, new.interval, old.interval)
  if r > 0 then q = q + 1 end
  return -q
end

-- model.change: settle at the old settings, clamp, keep the elapsed fraction of the tick
local function change(tokens, anchor, old, new, now)
  tokens, anchor = refill(tokens, anchor, old, now)
  if tokens >= new.ceiling then return new.ceiling, now end
  local elapsed = now - anchor
  if elapsed < -old.interval then elapsed = -old.interval end -- a clock that stepped back
  local scaled = scaled_elapsed(elapsed, old, new)
  if scaled > now then return tokens, 0 end
  if -scaled > MAX_SAFE - now then return tokens, MAX_SAFE end
  return tokens, now - scaled
end

-- Validate the arguments before touching anything.
local default, err, idle = settings_arg(ARGV[2], 'default', 'idle_ms')
if not default then return fail(err) end
local idle_ms = int(idle, 0)
if not idle_ms then return fail('idle_ms must be a whole number >= 0') end
local ops = { acquire = true, peek = true, configure = true, unconfigure = true, reset = true, delete = true }
if not ops[op] then return fail('unknown operation ' .. tostring(op)) end

local n, request, wanted, create, reply
if op == 'acquire' then
  n = int(ARGV[3], 1)
  if not n and ARGV[3] and string.find(ARGV[3], '^%d+$') and tonumber(ARGV[3]) >= 1 then
    n = MAX_SAFE + 1 -- beyond every ceiling: answered below as "larger than the ceiling"
  end
  if not n then return fail('n must be a whole number >= 1') end
  request = ARGV[4] or ''
elseif op == 'configure' then
  wanted, err = settings_arg(ARGV[3], 'new')
  if not wanted then return fail(err) end
  create = ARGV[4] or '1'
  if create ~= '1' and create ~= '0' then return fail('create must be "1" or "0"') end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Read and validate the stored state. pcall: a key of another type must
-- become a clear error, not a script crash.
local h = redis.pcall('HMGET', key, 'tokens', 'anchor_us', 'max_tokens', 'burst', 'refill_count',
                      'interval_us', 'operator', 'granted', 'denied', 'req')
if type(h) == 'table' and h.err then
  return fail(key .. ' is not a hash (' .. redis.call('TYPE', key).ok .. '); it was not written by tbdash')
end

local exists = h[1] ~= false or h[2] ~= false or h[3] ~= false
local tokens, anchor, stored, operator, granted, denied = nil, nil, nil, 0, 0, 0
if exists then
  tokens, anchor = int(h[1], 0), int(h[2], 0)
  local d = default.strings
  if h[3] == d[1] and h[4] == d[2] and h[5] == d[3] and h[6] == d[4] then
    stored = default -- the usual case: the same text as the default, already validated
  else
    stored, err = settings(h[3], h[4], h[5], h[6], 'stored')
  end
  operator = int(h[7] or '0', 0)
  granted, denied = int(h[8] or '0', 0), int(h[9] or '0', 0)
  if not (tokens and anchor and stored and operator and operator <= 1 and granted and denied) then
    return fail(key .. ' has missing or non-numeric fields; it was not written by tbdash')
  end
  if tokens > stored.ceiling then
    return fail(key .. ' holds more tokens than its ceiling; it was not written by tbdash')
  end
end

if not exists and redis.call('EXISTS', key) == 1 then
  return fail(key .. ' is a hash without bucket fields; it was not written by tbdash')
end

if op == 'delete' then
  return redis.call('DEL', key) -- 1 if a bucket was deleted, 0 if there was none
end

if not exists then
  -- Writes to a missing bucket that would only make sense on an existing one
  -- write nothing: the caller learns it was missing (nil) instead of creating it.
  if op == 'peek' or op == 'unconfigure' or op == 'reset' or (op == 'configure' and create == '0') then
    return nil
  end
  if op == 'configure' then
    -- An operator's bucket starts full at its own max_tokens, not the default's.
    tokens, anchor, stored, operator = wanted.max, now, wanted, 1
  else
    tokens, anchor, stored = default.max, now, default -- a new bucket: max_tokens tokens
  end
end

-- Disagreement record (read only when needed: the hot path never touches it).
local changes, other
local function read_disagreement()
  local e = redis.call('HMGET', key, 'default_changes', 'other_default')
  changes, other = int(e[1] or '0', 0), e[2] or ''
  return changes and (other == '' or settings_arg(other, 'other default') ~= nil)
end

-- The settings in force: the operator's if any, else the caller's default.
-- A different default settles at the old one first, like any live change, and
-- is counted: the callers of this bucket disagree on its settings.
local s, settings_changed, disagreed = stored, not exists, false
if operator == 0 and not same(stored, default) then
  if not read_disagreement() then
    return fail(key .. ' has non-numeric disagreement fields; it was not written by tbdash')
  end
  if op ~= 'peek' then
    changes, other = changes + 1, table.concat({ h[3], h[4], h[5], h[6] }, ' ')
    disagreed = true
  end
  tokens, anchor = change(tokens, anchor, stored, default, now)
  s, settings_changed = default, true
elseif op ~= 'acquire' and exists and not read_disagreement() then
  -- Every op but acquire replies with the record: validated before the first write.
  return fail(key .. ' has non-numeric disagreement fields; it was not written by tbdash')
end

local function long_reply()
  return { 0, 0, tokens, 0, s.max, s.burst, s.count, s.interval, granted, denied, operator, now, anchor,
           changes or 0, other or '' }
end

-- Fields to write; the settings fields only when they changed (the hot path writes 4).
local fields = {}
local function put(name, value)
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end

if op == 'peek' then
  tokens, anchor = refill(tokens, anchor, s, now)
  return long_reply()
elseif op == 'acquire' then
  if request ~= '' and h[10] then
    -- The client timed out and retried a request that had already run.
    local id, was_allowed, was_wait = string.match(h[10], '^(.*) (%d+) (%d+)$')
    if id == request then
      return string.format('2 %d %d %d %d %d', tonumber(was_allowed), tokens, tonumber(was_wait), s.ceiling, now)
    end
  end
  if n > s.ceiling then return string.format('1 0 %d 0 %d %d', tokens, s.ceiling, now) end
  tokens, anchor = refill(tokens, anchor, s, now)
  local allowed, wait = 0, 0
  if tokens >= n then
    tokens, allowed, granted = tokens - n, 1, granted + 1
    put('granted', granted)
  else
    wait, denied = wait_for(tokens, anchor, s, n, now), denied + 1
    put('denied', denied)
  end
  if request ~= '' then
    put('req', string.format('%s %d %d', request, allowed, wait))
  elseif h[10] then
    redis.call('HDEL', key, 'req') -- a stale answer must never replay
  end
  reply = string.format('0 %d %d %d %d %d', allowed, tokens, wait, s.ceiling, now)
elseif op == 'configure' then
  tokens, anchor = change(tokens, anchor, s, wanted, now)
  if operator == 0 then redis.call('PERSIST', key) end -- operator settings persist
  s, operator, settings_changed = wanted, 1, true
elseif op == 'unconfigure' then
  tokens, anchor = change(tokens, anchor, s, default, now)
  s, operator, settings_changed = default, 0, true
elseif op == 'reset' then
  tokens, anchor = s.max, now
end

put('tokens', tokens)
put('anchor_us', anchor)
if settings_changed then
  put('max_tokens', s.max); put('burst', s.burst); put('refill_count', s.count)
  put('interval_us', s.interval); put('operator', operator)
  put('granted', granted); put('denied', denied)
end
if disagreed then
  put('default_changes', changes); put('other_default', other)
end
redis.call('HSET', key, unpack(fields))

if operator == 0 then
  -- Idle state expires idle_ms after the bucket would be full again: a
  -- missing key then reads as a new bucket, so idle users cost no memory.
  local full_in = wait_for(tokens, anchor, s, s.ceiling, now)
  redis.call('PEXPIRE', key, math.floor(full_in / 1000) + idle_ms + 1)
end

return reply or long_reply()
