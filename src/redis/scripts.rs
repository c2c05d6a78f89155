//! The Lua scripts that change a row together with its index entries.
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

/// Helpers shared by the scripts that remove rows.
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

-- Removes one row of the tenant at `base` and its index entries.
local function remove_row(base, nsset, dl, m)
  local scope_id, key = split_member(m)
  redis.call('DEL', base .. m)
  redis.call('ZREM', dl, m)
  if scope_id then
    local idx = base .. '\\n' .. scope_id
    redis.call('ZREM', idx, key)
    if redis.call('ZCARD', idx) == 0 then redis.call('ZREM', nsset, scope_id) end
  end
end

-- Removes up to `limit` rows whose deadline is at most `upto`; their count.
local function remove_expired(base, nsset, dl, upto, limit)
  local rows = redis.call('ZRANGEBYSCORE', dl, '-inf', upto, 'LIMIT', 0, limit)
  for _, m in ipairs(rows) do remove_row(base, nsset, dl, m) end
  return #rows
end
";

/// `put`, one or more rows (the write combiner's batches). KEYS: each
/// row's key [, then the registry on one server]. ARGV: the row count, the
/// trim limit, the trim bound, then for each row its value, key, scope id,
/// deadline ('' = none), PX in ms, tenant base and tenant. The index keys
/// and the deadline member are built here from the tenant base, the scope
/// id and the key (the names of [`super::layout`]), and only when a
/// command needs them: every argument costs the server a Redis object and
/// a Lua string per call, which made a single-row put's arguments as
/// costly as its commands. Returns 0 when every row was written (the
/// common case, and the cheapest reply to send and parse), else one string
/// per row: empty when written, else the error that left it unwritten.
///
/// A row's first command is the `HSET`, which fails on a key of another
/// type before anything of that row has changed; `pcall` keeps that
/// failure to its row. The `HSET`'s count of new fields tells a new row
/// from an overwrite (our rows always hold `v`, and `d` exactly when they
/// have a TTL): only a new row, or one that gains a TTL, touches the
/// indexes beyond the deadline index, so an overwrite costs two or three
/// commands (a new row also clears a deadline entry left by a row that
/// Redis expired under the same key). A row that already existed is
/// listed (every script that writes or removes a row changes its index
/// entries with it), so its namespace is too. Only a row that joins the
/// deadline index, the source of expired rows, trims expired ones. The
/// registry (one server) hears of a tenant when its deadline index goes
/// from empty to not: while the index holds rows the tenant stays
/// registered (`UNREGISTER` drops it only when nobody registered it since
/// `evict_expired` found the index empty).
const PUT: &str = r"
local n = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local upto = ARGV[3]
local registry = KEYS[n + 1]
local out = {}
local failed = false
for i = 0, n - 1 do
  local row = KEYS[i + 1]
  local a = 3 + 7 * i
  local deadline = ARGV[a + 4]
  local added
  if deadline == '' then
    added = redis.pcall('HSET', row, 'v', ARGV[a + 1])
  else
    added = redis.pcall('HSET', row, 'v', ARGV[a + 1], 'd', deadline)
  end
  if type(added) == 'table' and added.err then
    out[i + 1] = added.err
    failed = true
  else
    local key, scope_id, base = ARGV[a + 2], ARGV[a + 3], ARGV[a + 6]
    local member = scope_id .. '\\k' .. key
    local dl = base .. '\\d'
    local fresh
    if deadline == '' then
      fresh = added == 1
      -- A new row may meet the deadline entry of one Redis expired.
      if redis.call('ZREM', dl, member) == 1 and not fresh then
        redis.call('HDEL', row, 'd')
        redis.call('PERSIST', row)
      end
    else
      fresh = added == 2
      redis.call('PEXPIRE', row, ARGV[a + 5])
      if redis.call('ZADD', dl, deadline, member) == 1 then
        if registry and redis.call('ZCARD', dl) == 1 then
          redis.call('ZINCRBY', registry, 1, ARGV[a + 7])
        end
        remove_expired(base, base .. '\\s', dl, upto, limit)
      end
    end
    if fresh and redis.call('ZADD', base .. '\\n' .. scope_id, 0, key) == 1 then
      redis.call('ZADD', base .. '\\s', 0, scope_id)
    end
    out[i + 1] = ''
  end
end
if failed then return out end
return 0
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

/// `list`. KEYS: key index, deadlines. ARGV: lex min, lex max, member
/// prefix (`N\k`), now. The live keys in the range, in byte order.
const LIST: &str = r"
local keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then return keys end
local now = tonumber(ARGV[4])
local out = {}
for _, k in ipairs(keys) do
  local d = redis.call('ZSCORE', KEYS[2], ARGV[3] .. k)
  if not d or tonumber(d) > now then out[#out + 1] = k end
end
return out
";

/// `list_namespaces`. KEYS: namespace index, deadlines. ARGV: tenant base,
/// now, trim bound, 'all' or 'prefix', the prefix's scope id, trim limit.
/// Up to the trim limit of the rows expired before the trim bound leave on
/// the way (so one call never blocks the server on a backlog); a namespace
/// is listed when it holds more rows than have expired in it.
const LIST_NAMESPACES: &str = r"
local now = tonumber(ARGV[2])
local upto = tonumber(ARGV[3])
local expired = {}
local budget = tonumber(ARGV[6])
local rows = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'WITHSCORES')
for i = 1, #rows, 2 do
  local m = rows[i]
  if budget > 0 and tonumber(rows[i + 1]) <= upto then
    remove_row(ARGV[1], KEYS[1], KEYS[2], m)
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
  if redis.call('ZCARD', ARGV[1] .. '\\n' .. s) > (expired[s] or 0) then out[#out + 1] = s end
end
return out
";

/// `evict_expired`, one tenant, one batch. KEYS: deadlines, namespace
/// index. ARGV: tenant base, now, batch size. Returns {removed, rows with a
/// TTL left}.
const EVICT: &str = r"
local n = remove_expired(ARGV[1], KEYS[2], KEYS[1], ARGV[2], tonumber(ARGV[3]))
return {n, redis.call('ZCARD', KEYS[1])}
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
pub(crate) static LIST_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LIST));
pub(crate) static LIST_NAMESPACES_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| with_helpers(LIST_NAMESPACES));
pub(crate) static EVICT_SCRIPT: LazyLock<Script> = LazyLock::new(|| with_helpers(EVICT));
pub(crate) static UNREGISTER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UNREGISTER));
