-- token_bucket.lua: the only code that reads or changes a tbdash token bucket.
--
-- A port of limiter/model.py (a differential test holds them equal). All state
-- is integers; the clock is Redis TIME in microseconds, never the caller's.
--
-- KEYS[1]      the bucket hash, <prefix>:{<user>}   (one key: one Cluster slot)
-- ARGV[1]      operation: acquire | peek | configure | unconfigure | reset | delete
--              | shadow | promote | discard
-- ARGV[2]      "<max_tokens> <burst> <refill_count> <interval_us> <idle_ms>": the caller's
--              default settings (in force unless an operator configured the bucket), and
--              how long a full bucket without operator settings is kept before it expires
--              (a missing key reads as a new bucket: max_tokens tokens)
-- acquire:     ARGV[3] n (tokens, 1..ceiling)   ARGV[4] request id ("" for none): a retry
--              of the same request id returns the first answer instead of debiting twice.
--              ARGV[5] "1" (optional): this request id was never sent before, so there is
--              no earlier answer to look for (saves reading it); never send it on a retry
-- configure:   ARGV[3] "<max_tokens> <burst> <refill_count> <interval_us>": the operator's
--              settings; they persist until unconfigure or delete. ARGV[4] "1" (the default
--              when absent) creates a missing bucket, full at the operator's max_tokens;
--              "0" leaves a missing bucket missing (nothing written, reply nil)
-- shadow:      ARGV[3], ARGV[4] as for configure, but the settings become the bucket's shadow
--              (a preview): its own tokens and anchor, started from the enforced state now
--              exactly as configure would change it, counters at 0 (a shadow set again starts
--              again). A missing bucket created by it starts at the caller's default. Every
--              later acquire is also taken from the shadow (when n is not above the enforced
--              ceiling and is not a replay) and counted as a shadow grant or denial; only the
--              enforced settings answer. A bucket with a shadow never expires.
-- promote:     the shadow's settings become the operator's (configure with them: settled at
--              the old settings first), and the shadow is dropped
-- discard:     the shadow is dropped (the expiry of a bucket without operator settings resumes)
--              promote and discard on a bucket without a shadow write nothing and reply nil
--
-- Reply of acquire, one string (it is the hot path; a string parses fastest):
--   "<code> <allowed> <tokens> <wait_us> <ceiling> <now_us>", and on a bucket with a shadow
--   a seventh number, <shadow_allowed> (1 or 0: what the shadow settings answered)
--   code 0 = ok, 1 = n is larger than the ceiling (nothing written, no seventh number),
--   2 = replayed request id (the seventh number as first answered, if it was)
-- Reply of delete: 1 if a bucket was deleted, 0 if there was none.
-- Reply of peek, configure, unconfigure, reset, shadow, promote, discard (nil for a missing
-- bucket, except configure and shadow with ARGV[4] "1"; nothing is written when the reply is nil):
--   { 0, 0, tokens, 0, max_tokens, burst, refill_count, interval_us,
--     granted, denied, operator, now_us, anchor_us, default_changes, other_default, shadow }
--   default_changes: how many times a caller's default replaced a different stored
--   default (callers disagree); other_default: the last default so replaced, as
--   "<max_tokens> <burst> <refill_count> <interval_us>", or "" if none ever was.
--   shadow: "" without one, else "<max_tokens> <burst> <refill_count> <interval_us> <tokens>
--   <anchor_us> <granted> <denied>", its tokens refilled as of now_us (the stored field's format)
-- Errors: "ERR token_bucket: ..." for bad arguments, a wrong-type key or corrupt fields;
-- they are raised before the first write, so a bad key is never half-changed.
--
-- Hash fields: tokens anchor_us max_tokens burst refill_count interval_us operator
--              granted denied req ("<request id> <allowed> <wait_us>" of the last consume)
--              default (ARGV[2] of the caller whose default is in force; absent while an
--              operator's settings are) default_changes other_default (once callers disagreed)
--              shadow (only while the bucket has one; the format of the reply's shadow)
-- Expiry, without operator settings and without a shadow: idle_ms after the bucket would be
-- full again (+1 ms), rounded up to a multiple of idle_ms / 8; sent only when it moves.
--
-- Layout. The lean path: an acquire on a bucket whose stored default is the caller's
-- (compared as one string), or that has operator settings, or that does not exist yet,
-- and that has no shadow (one more field read: nil), checked and run inline: no closures,
-- seven fields read (eight with a request id to look for), only what changed written.
-- The general section: everything else (a shadow, a caller with another default, a key an
-- older version wrote, corrupt data, the other operations); its helpers exist only there.
-- Both end in the same acquire and expiry code.

local MAX_SAFE = 9007199254740991
local key, op, default_arg = KEYS[1], ARGV[1], ARGV[2]

-- The caller's default, checked inline (the general section names what is wrong).
local dm, db, dc, di, dx = string.match(default_arg or '', '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
local ceiling, count, interval, idle_ms -- the settings in force: the default's until read
local default_ok = false
if dm then
  -- (Each string-to-number conversion costs: burst "0" and idle_ms are converted only if needed.)
  local max = dm + 0
  ceiling, count, interval = db == '0' and max or max + db, dc + 0, di + 0
  if max >= 1 and count >= 1 and interval >= 1000 and ceiling <= MAX_SAFE and count <= MAX_SAFE
      and interval <= MAX_SAFE and (#dx < 16 or dx + 0 <= MAX_SAFE) then
    local fill = ceiling / count -- ticks to fill from empty; floor(a / b) is exact below 2^53
    fill = fill - fill % 1
    if fill * count < ceiling then fill = fill + 1 end
    default_ok = fill * interval <= MAX_SAFE
  end
end

local n, request, now, h, last, reply
local clock, ceiling_text -- TIME's reply, and the ceiling as text when it is at hand (for the reply)
local tokens, anchor, operator, granted, denied
local old_full -- when the stored state is full again, if its expiry is known (else it is set)
local more, drop, both_counters -- fields the acquire's write adds, deletes; both counters too
local shadow, shadow_take -- the shadow after this call (general section only), and its acquire
local lean = false

if default_ok and op == 'acquire' then
  local arg = ARGV[3]
  if arg == '1' then
    n = 1
  elseif arg and string.find(arg, '^%d+$') then
    n = arg + 0
    if n < 1 then n = nil elseif n > MAX_SAFE then n = MAX_SAFE + 1 end -- beyond every ceiling
  end
  request = ARGV[4] or ''
end

if n then
  clock = redis.call('TIME')
  now = clock[1] * 1000000 + clock[2]
  if db == '0' then ceiling_text = dm end
  -- pcall: a key of another type fails every test below and gets its error further down.
  if ARGV[5] == '1' and request ~= '' then
    -- The caller says this request id was never sent before: no earlier answer to look for.
    h = redis.pcall('HMGET', key, 'tokens', 'anchor_us', 'default', 'operator', 'granted', 'denied', 'shadow')
  else
    h = redis.pcall('HMGET', key, 'tokens', 'anchor_us', 'default', 'operator', 'granted', 'denied', 'shadow', 'req')
    last = h[8]
  end
  local mode = h[4]
  local t0, a0, g0, d0 = h[1], h[2], h[5] or '0', h[6] or '0'
  if t0 and a0 and #t0 > 0 and #a0 > 0 and #g0 > 0 and #d0 > 0 and not string.find(t0 .. a0 .. g0 .. d0, '%D') then
    -- A bucket with a shadow takes the general section: the one test the lean path pays.
    if h[7] then
      lean = false
    elseif mode == '0' and h[3] == default_arg then
      lean = true -- the default in force is the caller's: already checked above
    elseif mode == '1' and not h[3] then
      -- Operator settings: the four fields are theirs; checked like the default.
      local o = redis.call('HMGET', key, 'max_tokens', 'burst', 'refill_count', 'interval_us')
      local om, ob, oc, oi = o[1], o[2], o[3], o[4]
      if om and ob and oc and oi and string.find(om .. ' ' .. ob .. ' ' .. oc .. ' ' .. oi, '^%d+ %d+ %d+ %d+$') then
        local c, ct, iv = om + ob, oc + 0, oi + 0
        if om + 0 >= 1 and ct >= 1 and iv >= 1000 and c <= MAX_SAFE and ct <= MAX_SAFE and iv <= MAX_SAFE then
          local fill = c / ct
          fill = fill - fill % 1
          if fill * ct < c then fill = fill + 1 end
          if fill * iv <= MAX_SAFE then
            lean, ceiling, count, interval, ceiling_text = true, c, ct, iv, ob == '0' and om or nil
          end
        end
      end
    end
    if lean then
      -- The counters stay strings: only the one that changes is converted, by its + 1.
      tokens, anchor, granted, denied = t0 + 0, a0 + 0, g0, d0
      lean = tokens <= ceiling and anchor <= MAX_SAFE and (#granted < 16 or granted + 0 <= MAX_SAFE)
        and (#denied < 16 or denied + 0 <= MAX_SAFE)
      operator = mode == '1' and 1 or 0
    end
    if lean and operator == 0 then
      -- When the stored state is full again: its expiry's basis (see the expiry block).
      old_full = anchor
      if tokens < ceiling then
        local ticks = (ceiling - tokens) / count
        ticks = ticks - ticks % 1
        if ticks * count < ceiling - tokens then ticks = ticks + 1 end
        old_full = anchor + ticks * interval
      end
    end
  elseif not (h[1] or h[2] or h[3] or mode or h[5] or h[6] or h[7] or last or h.err) and redis.call('EXISTS', key) == 0 then
    -- A new bucket: max_tokens tokens, its first tick starting now.
    lean, tokens, anchor, operator, granted, denied, both_counters = true, dm + 0, now, 0, 0, 0, true
    more = { 'default', default_arg, 'operator', '0', 'max_tokens', dm, 'burst', db, 'refill_count', dc,
             'interval_us', di }
  end
end

if not lean then
  -- ------------------------------------------------------------------ general section
  ceiling_text = nil -- the settings in force are read again below
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
  local default, err, idle = settings_arg(default_arg, 'default', 'idle_ms')
  if not default then return fail(err) end
  idle_ms = int(idle, 0)
  if not idle_ms then return fail('idle_ms must be a whole number >= 0') end
  local ops = { acquire = true, peek = true, configure = true, unconfigure = true, reset = true, delete = true,
                shadow = true, promote = true, discard = true }
  if not ops[op] then return fail('unknown operation ' .. tostring(op)) end

  local wanted, create
  if op == 'acquire' then
    if not n then return fail('n must be a whole number >= 1') end
  elseif op == 'configure' or op == 'shadow' then
    wanted, err = settings_arg(ARGV[3], 'new')
    if not wanted then return fail(err) end
    create = ARGV[4] or '1'
    if create ~= '1' and create ~= '0' then return fail('create must be "1" or "0"') end
  end

  if not now then
    clock = redis.call('TIME')
    now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  end
  -- Read and validate the stored state. pcall: a key of another type must
  -- become a clear error, not a script crash.
  h = redis.pcall('HMGET', key, 'tokens', 'anchor_us', 'max_tokens', 'burst', 'refill_count',
                  'interval_us', 'operator', 'granted', 'denied', 'req', 'default', 'shadow')
  if h.err then
    return fail(key .. ' is not a hash (' .. redis.call('TYPE', key).ok .. '); it was not written by tbdash')
  end
  last = h[10]

  local exists = h[1] ~= false or h[2] ~= false or h[3] ~= false
  local stored
  operator, granted, denied = 0, 0, 0
  if exists then
    tokens, anchor = int(h[1], 0), int(h[2], 0)
    local d = default.strings
    if h[3] == d[1] and h[4] == d[2] and h[5] == d[3] and h[6] == d[4] then
      stored = default -- the same text as the default, already validated
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

  -- The shadow: "<max_tokens> <burst> <refill_count> <interval_us> <tokens> <anchor_us> <granted> <denied>".
  local shadow_changed = false -- the shadow field is written (or dropped) by this call
  if exists and h[12] then
    local sm, sb, sc, si, st, sa, sg, sd = string.match(h[12], '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$')
    local ss = sm and settings(sm, sb, sc, si, 'shadow')
    if ss then
      shadow = { s = ss, tokens = int(st, 0), anchor = int(sa, 0), granted = int(sg, 0), denied = int(sd, 0) }
    end
    if not (shadow and shadow.tokens and shadow.anchor and shadow.granted and shadow.denied and shadow.tokens <= ss.ceiling) then
      return fail(key .. ' has a corrupt shadow field; it was not written by tbdash')
    end
  end
  if (op == 'promote' or op == 'discard') and not shadow then
    return nil -- nothing to promote or discard: nothing written, and the caller learns it
  end

  if op == 'delete' then
    return redis.call('DEL', key) -- 1 if a bucket was deleted, 0 if there was none
  end

  if not exists then
    -- Writes to a missing bucket that would only make sense on an existing one
    -- write nothing: the caller learns it was missing (nil) instead of creating it.
    if op == 'peek' or op == 'unconfigure' or op == 'reset' or ((op == 'configure' or op == 'shadow') and create == '0') then
      return nil
    end
    if op == 'configure' then
      -- An operator's bucket starts full at its own max_tokens, not the default's.
      tokens, anchor, stored, operator = wanted.max, now, wanted, 1
    else
      tokens, anchor, stored = default.max, now, default -- a new bucket: max_tokens tokens (shadow too)
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

  local function shadow_field(t, a)
    local ss = shadow.s
    return string.format('%d %d %d %d %d %d %d %d', ss.max, ss.burst, ss.count, ss.interval, t, a, shadow.granted, shadow.denied)
  end

  local function long_reply()
    local shadow_now = ''
    if shadow then shadow_now = shadow_field(refill(shadow.tokens, shadow.anchor, shadow.s, now)) end
    return { 0, 0, tokens, 0, s.max, s.burst, s.count, s.interval, granted, denied, operator, now, anchor,
             changes or 0, other or '', shadow_now }
  end

  -- The shadow's answer to an acquire of n (called once the enforced checks let it through):
  -- its own refill, all or nothing (n above its ceiling is a denial), counted; and its field.
  shadow_take = function(n)
    local sh, answer = shadow, '0'
    sh.tokens, sh.anchor = refill(sh.tokens, sh.anchor, sh.s, now)
    if sh.tokens >= n then
      sh.tokens, sh.granted, answer = sh.tokens - n, sh.granted + 1, '1'
    else
      sh.denied = sh.denied + 1
    end
    return answer, shadow_field(sh.tokens, sh.anchor)
  end

  if op == 'peek' then
    tokens, anchor = refill(tokens, anchor, s, now)
    return long_reply()
  elseif op == 'configure' then
    tokens, anchor = change(tokens, anchor, s, wanted, now)
    if operator == 0 then redis.call('PERSIST', key) end -- operator settings persist
    s, operator, settings_changed = wanted, 1, true
  elseif op == 'unconfigure' then
    tokens, anchor = change(tokens, anchor, s, default, now)
    s, operator, settings_changed = default, 0, true
  elseif op == 'reset' then
    tokens, anchor = s.max, now
    if shadow then shadow.tokens, shadow.anchor, shadow_changed = shadow.s.max, now, true end
  elseif op == 'shadow' then
    -- Started from the enforced state now, exactly as configure would change it.
    local t, a = change(tokens, anchor, s, wanted, now)
    shadow, shadow_changed = { s = wanted, tokens = t, anchor = a, granted = 0, denied = 0 }, true
    if operator == 0 then redis.call('PERSIST', key) end -- a bucket with a shadow never expires
  elseif op == 'promote' then
    tokens, anchor = change(tokens, anchor, s, shadow.s, now) -- a live change: settled first
    if operator == 0 then redis.call('PERSIST', key) end
    s, operator, settings_changed, shadow, shadow_changed = shadow.s, 1, true, nil, true
  elseif op == 'discard' then
    -- Settled now (refill changes nothing it would not), so a full bucket's idle time,
    -- and its expiry, start now: its time with a shadow was not idle.
    tokens, anchor = refill(tokens, anchor, s, now)
    shadow, shadow_changed = nil, true
  end

  -- What to write besides tokens, anchor_us and the counters: the settings when they
  -- changed, the disagreement record, and the default field the lean path compares.
  more, drop = {}, {}
  if settings_changed then
    for _, v in ipairs({ 'max_tokens', s.max, 'burst', s.burst, 'refill_count', s.count,
                         'interval_us', s.interval, 'operator', operator }) do
      more[#more + 1] = v
    end
  end
  if disagreed then
    for _, v in ipairs({ 'default_changes', changes, 'other_default', other }) do more[#more + 1] = v end
  end
  if operator == 0 and h[11] ~= default_arg then
    more[#more + 1] = 'default'; more[#more + 1] = default_arg
  elseif operator == 1 and h[11] then
    drop[1] = 'default' -- an operator's settings are read from their own fields
  end
  if shadow_changed then
    if shadow then
      more[#more + 1] = 'shadow'; more[#more + 1] = shadow_field(shadow.tokens, shadow.anchor)
    else
      drop[#drop + 1] = 'shadow'
    end
  end
  ceiling, count, interval = s.ceiling, s.count, s.interval
  both_counters = settings_changed -- a new bucket, or other settings: both counters are written

  if op ~= 'acquire' then
    for _, v in ipairs({ 'tokens', tokens, 'anchor_us', anchor }) do more[#more + 1] = v end
    if both_counters then
      for _, v in ipairs({ 'granted', granted, 'denied', denied }) do more[#more + 1] = v end
    end
    redis.call('HSET', key, unpack(more))
    if #drop > 0 then redis.call('HDEL', key, unpack(drop)) end
    reply = long_reply() -- the expiry is set at the end, as for an acquire
  end
end

-- ------------------------------------------------------------------ acquire: every path ends here

if op == 'acquire' then

  if last and request ~= '' and string.sub(last, 1, #request + 1) == request .. ' ' then
    -- The client timed out and retried a request that had already run.
    local was_allowed, was_wait, was_shadow = string.match(last, '^(%d+) (%d+) ?([01]?)$', #request + 2)
    if was_allowed then
      return string.format('2 %d %d %d %d %d', was_allowed, tokens, was_wait, ceiling, now) ..
        (was_shadow ~= '' and ' ' .. was_shadow or '')
    end
  end
  if n > ceiling then return string.format('1 0 %d 0 %d %d', tokens, ceiling, now) end
  local shadow_answer, shadow_text -- " <1|0>" and the shadow's field, on a bucket with a shadow
  if shadow then
    shadow_answer, shadow_text = shadow_take(n)
    shadow_answer = ' ' .. shadow_answer
  end

  -- model.take, inline: refill, then take n or say when they will be there.
  local anchor_was = anchor
  if tokens >= ceiling then
    anchor = now -- a full bucket banks no ticks
  else
    local elapsed = now - anchor
    if elapsed >= interval then -- also false for a clock that stepped back
      local ticks = (elapsed - elapsed % interval) / interval
      tokens = tokens + ticks * count
      if tokens >= ceiling then tokens, anchor = ceiling, now else anchor = anchor + ticks * interval end
    end
  end
  -- Numbers go to Redis as text made here: string.format('%d') is cheaper than the %.17g
  -- Redis applies to a Lua number, and the grant's reply reuses the same text.
  local answer, counter, value, tokens_text
  if tokens >= n then
    tokens, granted = tokens - n, granted + 1
    tokens_text = string.format('%d', tokens)
    local us = clock[2] -- now_us is TIME's two numbers written side by side
    if #us < 6 then us = string.sub('00000' .. us, -6) end
    reply = '0 1 ' .. tokens_text .. ' 0 ' .. (ceiling_text or string.format('%d', ceiling)) .. ' ' .. clock[1] .. us
    answer, counter, value = ' 1 0', 'granted', string.format('%d', granted)
  else
    local ticks = (n - tokens) / count
    ticks = ticks - ticks % 1
    if ticks * count < n - tokens then ticks = ticks + 1 end
    local wait = anchor + ticks * interval - now
    denied = denied + 1
    tokens_text = string.format('%d', tokens)
    reply = string.format('0 0 %s %d %d %d', tokens_text, wait, ceiling, now)
    answer, counter, value = string.format(' 0 %d', wait), 'denied', string.format('%d', denied)
  end
  if shadow then reply = reply .. shadow_answer end

  -- Write what changed (a grant within a tick leaves anchor_us as it was).
  if more then
    -- The fields the lean path reads come first: a new hash keeps them at the front of its
    -- listpack, where HMGET finds them soonest.
    local fields = { 'tokens', tokens_text, 'anchor_us', anchor }
    if both_counters then
      for _, v in ipairs({ 'granted', granted, 'denied', denied }) do fields[#fields + 1] = v end
    else
      fields[#fields + 1] = counter; fields[#fields + 1] = value
    end
    if request ~= '' then fields[#fields + 1] = 'req'; fields[#fields + 1] = request .. answer .. (shadow_answer or '') end
    if shadow then fields[#fields + 1] = 'shadow'; fields[#fields + 1] = shadow_text end
    for i = 1, #more do fields[#fields + 1] = more[i] end
    redis.call('HSET', key, unpack(fields))
    drop = drop or {}
    if request == '' and last then drop[#drop + 1] = 'req' end -- a stale answer must never replay
    if #drop > 0 then redis.call('HDEL', key, unpack(drop)) end
  elseif request ~= '' then
    if anchor == anchor_was then
      redis.call('HSET', key, 'tokens', tokens_text, counter, value, 'req', request .. answer)
    else
      redis.call('HSET', key, 'tokens', tokens_text, 'anchor_us', anchor, counter, value, 'req', request .. answer)
    end
  else
    redis.call('HSET', key, 'tokens', tokens_text, 'anchor_us', anchor, counter, value)
    if last then redis.call('HDEL', key, 'req') end -- a stale answer must never replay
  end
end

-- ------------------------------------------------------------------ expiry

if operator == 0 and not shadow then
  -- Idle state expires idle_ms after the bucket would be full again (+1 ms), rounded up to
  -- an eighth of idle_ms: a missing key then reads as a new bucket, so idle users cost no
  -- memory, and a bucket in use moves its expiry once per eighth, not on every grant.
  -- On the lean path the stored state was given the same rule: sent only if it moved.
  local full = anchor
  if tokens < ceiling then
    local ticks = (ceiling - tokens) / count
    ticks = ticks - ticks % 1
    if ticks * count < ceiling - tokens then ticks = ticks + 1 end
    full = anchor + ticks * interval
  end
  if full ~= old_full then
    idle_ms = idle_ms or dx + 0
    local grid = (idle_ms - idle_ms % 8) / 8
    local expiry = (full - full % 1000) / 1000 + idle_ms + 1 -- ms since the epoch
    local was = old_full and (old_full - old_full % 1000) / 1000 + idle_ms + 1
    if grid > 1 then
      expiry = expiry + (grid - expiry % grid) % grid
      if was then was = was + (grid - was % grid) % grid end
    end
    if expiry ~= was then
      redis.call('PEXPIRE', key, expiry - (now - now % 1000) / 1000)
    end
  end
end

return reply
