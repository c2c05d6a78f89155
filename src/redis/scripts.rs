//! The Lua scripts that change a row together with its index entries, and
//! the sweeps that settle the deadline hints.
//!
//! The common calls run no script: `get` is a `GET`, an overwrite a `SET
//! ... XX GET` (see [`super::store`]). The scripts cover what must read
//! before it writes: a new row ([`PUT`]), the second step of an overwrite
//! that moves a deadline down ([`SETTLE_PUT`]), `delete`, `list` (which
//! reads each row's header), `list_namespaces` and `evict_expired`.
//!
//! A script runs atomically on the server: no other command sees a row
//! without its index entries or the reverse, and a call cancelled on the
//! client has either run whole or not at all. Every key a script touches
//! carries the tenant's hash tag (it is declared in `KEYS` or built from the
//! tenant base `P{T}` passed in `ARGV`), so each script stays in one cluster
//! slot. Scripts check what they are about to change before they change
//! anything (Redis does not roll a failed script back).
//!
//! `redis::Script` sends `EVALSHA` and falls back to `EVAL` once on
//! `NOSCRIPT`, so a restarted or failed-over server needs no reloading step.
//! The key names are those of [`super::layout`]; times are microseconds since
//! the Unix epoch, computed by the client (see the module docs of
//! [`super`]).

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisResult, Script};

/// Helpers shared by the scripts: reading a row's header, and removing or
/// settling rows by their deadline hints.
const HELPERS: &str = r"
-- Splits a row member `N\k<key>` at its `\k` (backslashes in N come in pairs).
local function split_member(m)
  local i = 1
  while true do
    local j = string.find(m, '\\', i, true)
    if not j then return nil end
    if string.sub(m, j + 1, j + 1) == 'k' then
      return string.sub(m, 1, j - 1), string.sub(m, j + 2)
    end
    i = j + 2
  end
end

-- What the start of a row's value says: its deadline (a number), 'none',
-- or 'foreign' (not a row: no header).
local function parse_header(h)
  local i = string.find(h, ';', 1, true)
  if not i or i > 17 then return 'foreign' end
  local d = string.sub(h, 1, i - 1)
  if d == '-' then return 'none' end
  if not string.match(d, '^%d+$') then return 'foreign' end
  return tonumber(d)
end

-- The header of the row at `row`: as parse_header, or 'absent'; a key of
-- another type is 'foreign'.
local function row_deadline(row)
  local h = redis.pcall('GETRANGE', row, 0, 16)
  if type(h) ~= 'string' then return 'foreign' end
  if h == '' then return 'absent' end
  return parse_header(h)
end

-- Removes one row of the tenant at `base` and its index entries; 1 if it
-- was listed (a row, for evict_expired's count), else 0.
local function remove_row(base, nsset, dl, m)
  local scope_id, key = split_member(m)
  redis.call('DEL', base .. m)
  redis.call('ZREM', dl, m)
  local n = 0
  if scope_id then
    local idx = base .. '\\n' .. scope_id
    n = redis.call('ZREM', idx, key)
    if redis.call('ZCARD', idx) == 0 then redis.call('ZREM', nsset, scope_id) end
  end
  return n
end

-- Settles the deadline hint `m`: a row dead by `upto` (its deadline at
-- most `upto`, or gone from Redis) leaves with its index entries (returns
-- 1 if it was listed); a live row's hint moves to its real deadline, or
-- leaves when the row has no TTL; a value that is not a row keeps its key
-- and loses only the hint.
local function settle(base, nsset, dl, m, upto)
  local d = row_deadline(base .. m)
  if d == 'absent' or (type(d) == 'number' and d <= upto) then
    return remove_row(base, nsset, dl, m)
  end
  if type(d) == 'number' then
    redis.call('ZADD', dl, d, m)
  else
    redis.call('ZREM', dl, m)
  end
  return 0
end

-- Settles up to `limit` hints scored at most `upto`; the rows removed.
local function trim(base, nsset, dl, upto, limit)
  local rows = redis.call('ZRANGEBYSCORE', dl, '-inf', upto, 'LIMIT', 0, limit)
  local removed = 0
  for _, m in ipairs(rows) do removed = removed + settle(base, nsset, dl, m, upto) end
  return removed
end

-- A row with deadline `deadline` is at `m`: its hint must be at most
-- that. When the hint is new, the tenant joins the registry (one server)
-- if its index was empty, and a few long-expired rows are trimmed. 1 when
-- the hint is new.
local function hint(base, dl, m, deadline, registry, tenant, upto, limit)
  if redis.call('ZADD', dl, 'LT', deadline, m) == 0 then return 0 end
  if registry and redis.call('ZCARD', dl) == 1 then
    redis.call('ZINCRBY', registry, 1, tenant)
  end
  trim(base, base .. '\\s', dl, upto, limit)
  return 1
end
";

/// The put of rows that a plain `SET ... XX GET` found absent (new rows,
/// and rows Redis expired), one or more at once (the write combiner's
/// batches). KEYS: each row's key [, then the registry on one server].
/// ARGV: the row count, the trim limit, the trim bound, then for each row
/// its value (header and payload), key, scope id, deadline ('' = none), PX
/// in ms, tenant base and tenant. The index keys and the deadline member
/// are built here from the tenant base, the scope id and the key (the
/// names of [`super::layout`]). Returns 0 when every row was written (the
/// common case, and the cheapest reply to send and parse), else one string
/// per row: empty when written, else the error that left it unwritten.
///
/// A row's first command is `SET ... GET`, which fails on a key of another
/// type before anything of that row has changed; `pcall` keeps that
/// failure to its row. Its answer is the value it replaced: a row (another
/// writer's, since the client's `SET XX` found none) is listed already; no
/// row, or a string that is not one, gets its key and namespace index
/// entries. A row with a TTL gets its deadline hint (`ZADD LT`, so an
/// existing hint stays a lower bound).
const PUT: &str = r"
local n = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local upto = tonumber(ARGV[3])
local registry = KEYS[n + 1]
local out = {}
local failed = false
for i = 0, n - 1 do
  local row = KEYS[i + 1]
  local a = 3 + 7 * i
  local deadline = ARGV[a + 4]
  local old
  if deadline == '' then
    old = redis.pcall('SET', row, ARGV[a + 1], 'GET')
  else
    old = redis.pcall('SET', row, ARGV[a + 1], 'GET', 'PX', ARGV[a + 5])
  end
  if type(old) == 'table' and old.err then
    out[i + 1] = old.err
    failed = true
  else
    local key, scope_id, base = ARGV[a + 2], ARGV[a + 3], ARGV[a + 6]
    if deadline ~= '' then
      hint(base, base .. '\\d', scope_id .. '\\k' .. key, deadline, registry, ARGV[a + 7], upto, limit)
    end
    if (not old or parse_header(old) == 'foreign')
        and redis.call('ZADD', base .. '\\n' .. scope_id, 0, key) == 1 then
      redis.call('ZADD', base .. '\\s', 0, scope_id)
    end
    out[i + 1] = ''
  end
end
if failed then return out end
return 0
";

/// The second step of an overwrite whose old row did not cover the new one
/// in the indexes: the new row has a TTL and the old had none or a later
/// deadline (the hint may be missing or too late), or the old value was not
/// a row (the key is not listed). KEYS: row [, registry on one server].
/// ARGV: member, scope id, key, tenant base, tenant, trim bound, trim
/// limit, '1' if the key must be listed, the put's deadline ('' = none).
/// Reads the row as it is now (a later writer may have changed it), so it
/// is right whenever it runs, and running it twice changes nothing.
/// Returns 1 when the row's hint is new.
///
/// A row that is gone while its key is still listed was not deleted (a
/// delete unlists it): Redis dropped it at its `PX`, before this step ran
/// (a TTL shorter than the gap between the two steps). The old row's hint
/// may be an hour away, so the put's own deadline, which that `PX` ended
/// no earlier than, becomes the hint: the row then comes due, for
/// `evict_expired` to count and `list_namespaces` to skip. (Any deadline
/// is a safe hint for a row that is gone: a hint is only a lower bound.)
const SETTLE_PUT: &str = r"
local d = row_deadline(KEYS[1])
if d == 'foreign' then return 0 end
local base = ARGV[4]
if d == 'absent' then
  if ARGV[9] == '' or not redis.call('ZSCORE', base .. '\\n' .. ARGV[2], ARGV[3]) then
    return 0
  end
  d = tonumber(ARGV[9])
else
  if ARGV[8] == '1' and redis.call('ZADD', base .. '\\n' .. ARGV[2], 0, ARGV[3]) == 1 then
    redis.call('ZADD', base .. '\\s', 0, ARGV[2])
  end
  if d == 'none' then return 0 end
end
return hint(base, base .. '\\d', ARGV[1], d, KEYS[2], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
";

/// `delete`. KEYS: row, key index, namespace index, deadlines. ARGV: key,
/// scope id, member.
const DELETE: &str = r"
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
return 1
";

/// `list`. KEYS: key index. ARGV: lex min, lex max, the row keys' common
/// start (`P{T}N\k`), now. The keys in the range whose row is live by its
/// header (the deadline hints are only lower bounds), in byte order; a
/// value that is not a row is listed (`get` reports it).
const LIST: &str = r"
local keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])
local now = tonumber(ARGV[4])
local base = ARGV[3]
local out = {}
for _, k in ipairs(keys) do
  local h = redis.pcall('GETRANGE', base .. k, 0, 16)
  -- The common row has no TTL: its header starts with '-' (45).
  if type(h) ~= 'string' or string.byte(h, 1) == 45 then
    out[#out + 1] = k
  elseif h ~= '' then
    local d = parse_header(h)
    if type(d) ~= 'number' or d > now then out[#out + 1] = k end
  end
end
return out
";

/// `list_namespaces`. KEYS: namespace index, deadlines. ARGV: tenant base,
/// now, trim bound, 'all' or 'prefix', the prefix's scope id, trim limit.
/// Every hint due by now is settled against its row's header: a live row's
/// hint moves on (or leaves), a dead row counts as expired in its
/// namespace, and up to the trim limit of the rows dead before the trim
/// bound leave on the way (so one call never blocks the server on a
/// backlog). A namespace is listed when it holds more rows than have
/// expired in it.
const LIST_NAMESPACES: &str = r"
local base = ARGV[1]
local now = tonumber(ARGV[2])
local upto = tonumber(ARGV[3])
local expired = {}
local budget = tonumber(ARGV[6])
local rows = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'WITHSCORES')
for i = 1, #rows, 2 do
  local m = rows[i]
  local d = row_deadline(base .. m)
  -- A row Redis dropped is dead; its hint is all that says since when.
  if d == 'absent' then d = tonumber(rows[i + 1]) end
  if type(d) ~= 'number' or d > now then
    settle(base, KEYS[1], KEYS[2], m, now)
  elseif budget > 0 and d <= upto then
    remove_row(base, KEYS[1], KEYS[2], m)
    budget = budget - 1
  else
    local s = split_member(m)
    if s then expired[s] = (expired[s] or 0) + 1 end
  end
end
local candidates
if ARGV[4] == 'all' then
  candidates = redis.call('ZRANGEBYLEX', KEYS[1], '-', '+')
else
  candidates = {}
  if redis.call('ZSCORE', KEYS[1], ARGV[5]) then candidates[1] = ARGV[5] end
  local children = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[5] .. ':', '(' .. ARGV[5] .. ':\255')
  for _, s in ipairs(children) do candidates[#candidates + 1] = s end
end
local out = {}
for _, s in ipairs(candidates) do
  if redis.call('ZCARD', base .. '\\n' .. s) > (expired[s] or 0) then out[#out + 1] = s end
end
return out
";

/// `evict_expired`, one tenant, one batch. KEYS: deadlines, namespace
/// index. ARGV: tenant base, now, batch size. Settles up to a batch of the
/// hints due by now (each leaves the range: removed, moved past now, or
/// dropped). Returns {rows removed, hints settled, hints left}.
const EVICT: &str = r"
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, m in ipairs(rows) do
  removed = removed + settle(ARGV[1], KEYS[2], KEYS[1], m, tonumber(ARGV[2]))
end
return {removed, #rows, redis.call('ZCARD', KEYS[1])}
";

/// Drops a tenant from the registry if nobody registered it again since its
/// score was read. KEYS: registry. ARGV: tenant, the score read.
const UNREGISTER: &str = r"
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and s == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
";

/// An `EVALSHA` of `script`, with room for `args` arguments (these two
/// included) of `bytes` bytes in all; the caller appends the key count, the
/// keys and the arguments, and runs it with [`run_script`]. The put path
/// builds its request this way rather than through `ScriptInvocation`,
/// which copies every key and argument into a vector of its own first.
pub(crate) fn evalsha(script: &Script, args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(args, bytes);
    cmd.arg("EVALSHA").arg(script.get_hash());
    cmd
}

/// Runs `cmd`, an [`evalsha`] of `script`; if the server does not know the
/// script (restarted, failed over, flushed), loads it and runs `cmd` once
/// more, as `ScriptInvocation::invoke_async` does.
pub(crate) async fn run_script<T: FromRedisValue>(
    script: &Script,
    cmd: &Cmd,
    conn: &mut impl ConnectionLike,
) -> RedisResult<T> {
    match cmd.query_async(conn).await {
        Err(e) if e.code() == Some("NOSCRIPT") => {
            script.load_async(conn).await?;
            cmd.query_async(conn).await
        }
        out => out,
    }
}

fn with_helpers(body: &str) -> Script {
    Script::new(&format!("{HELPERS}{body}"))
}

pub(crate) static PUT_SCRIPT: LazyLock<Script> = LazyLock::new(|| with_helpers(PUT));
pub(crate) static DELETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(DELETE));
pub(crate) static SETTLE_PUT_SCRIPT: LazyLock<Script> = LazyLock::new(|| with_helpers(SETTLE_PUT));
pub(crate) static LIST_SCRIPT: LazyLock<Script> = LazyLock::new(|| with_helpers(LIST));
pub(crate) static LIST_NAMESPACES_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| with_helpers(LIST_NAMESPACES));
pub(crate) static EVICT_SCRIPT: LazyLock<Script> = LazyLock::new(|| with_helpers(EVICT));
pub(crate) static UNREGISTER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UNREGISTER));
