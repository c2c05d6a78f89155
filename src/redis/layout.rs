//! The Redis key layout: how a `(tenant, scope, key)` row and its indexes
//! are named, and the inverse that maps a Redis key back to what it holds.
//!
//! With `P` the store's key prefix (no `{` or `}`, checked by the builder),
//! `T` the escaped tenant and `N` the escaped scope:
//!
//! | Redis key | type | holds |
//! |---|---|---|
//! | `P{T}N\k<key>` | string | one row: a header, then the encoded value (below) |
//! | `P{T}\n N` (no space) | sorted set, all scores 0 | the keys of namespace `N`, ordered by bytes |
//! | `P{T}\s` | sorted set, all scores 0 | the tenant's namespaces that hold a row, as `N` |
//! | `P{T}\d` | sorted set, scored by a deadline hint | the tenant's rows that have (or had) a TTL, as `N\k<key>` |
//! | `P\t` | sorted set | the tenants that hold rows with a TTL (for `evict_expired`) |
//!
//! * `T` is the tenant with `\` written `\\` and `}` written `\)`: it never
//!   holds a `}`, and a tenant is never empty, so the hash tag `{T}` is
//!   exactly the escaped tenant (Redis hashes what lies between the first `{`
//!   and the first `}` after it). Everything a tenant holds lives in one
//!   cluster slot, which keeps every script single-slot.
//! * `N` is entelix's `Namespace::render` without the tenant: each segment
//!   as `:` followed by the segment with `:` written `\:` and `\` written
//!   `\\`. Empty scope, empty `N`. The escaping is a prefix code read left
//!   to right, so byte order on `N` is the order of `render()` within a
//!   tenant, and `N` starts with `N(prefix) + ":"` exactly when the prefix
//!   matches a child namespace structurally: that is what turns
//!   `list_namespaces` into `ZRANGEBYLEX`.
//! * `\k` never occurs in `N` read left to right (a backslash there is
//!   always followed by `:` or `\`), so it ends `N`; the key follows it
//!   verbatim. Row keys continue after `}` with `:` or `\k`, index keys with
//!   `\n`, `\s`, `\d`, and the registry has no `{` at all: the kinds never
//!   meet.
//!
//!
//! # The row
//!
//! A row is one Redis string: a header, then the codec's payload. The
//! header is the row's deadline in microseconds since the Unix epoch as
//! ASCII decimal digits (at most 16: deadlines stop at 2^53), or `-` for a
//! row without a TTL, followed by `;`. So `redis-cli GET` shows
//! `-;"likes tea"` or `1764512345678901;{"a":1}`: cheap to write and to
//! split in Rust (one scan of at most 17 bytes), and read in Lua with
//! `GETRANGE key 0 16` and `string.find` (the scripts never read the
//! payload). A `get` is one plain `GET`; an overwrite is one plain `SET ...
//! XX GET`, whose answer (the old row) tells the client whether the indexes
//! need a change (see the [module docs](super)).
//!
//! The deadline index holds, for every row with a TTL, an entry whose
//! score is at most the row's deadline (a lower-bound **hint**): an
//! overwrite that lengthens a TTL, or drops it, leaves the old entry as it
//! is. Whatever removes rows by the index (`evict_expired`, the trims,
//! `list_namespaces`) reads the row's header first: a row whose deadline
//! has passed (or that Redis already dropped) leaves with its index
//! entries; a live row's entry moves to its real deadline, or leaves when
//! the row has no TTL any more. Readers never trust the hint: `get` and
//! `list` read the header.
//!
//! **Layout version 2.** Until the seventh session a row was a hash (field
//! `v` the value, field `d` the deadline). A store of this version reads a
//! hash row left under its prefix as a value of another Redis type (a
//! `WRONGTYPE` error naming the key) and refuses to overwrite it; there is
//! no migration (the store is a cache): flush the prefix, or use a new one.
//!
//! `Layout::parse` (public as [`RedisStore::parse_key`](super::RedisStore::parse_key))
//! reads any of these keys back ([`RedisKey`]); it is the
//! inverse of the encoders, which this module's property test checks over
//! adversarial tenants, segments and keys, together with injectivity and the
//! hash tag (`tests/redis/collisions.rs` checks the same on a real server).

use entelix_core::TenantId;
use entelix_memory::Namespace;

/// Ends the namespace part of a row key (and of a deadline member).
pub(crate) const KEY_MARK: &str = "\\k";

/// The longest row header: 16 digits (deadlines stop below 2^53 µs) and `;`.
pub(crate) const MAX_HEADER: usize = 17;

/// A row's value: its header (the deadline, or `-` for none, and `;`),
/// then the payload the codec appends.
pub(crate) fn row_header(deadline_us: Option<u128>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HEADER + 128);
    match deadline_us {
        // Writing into a vector cannot fail.
        Some(deadline) => drop(std::io::Write::write_fmt(
            &mut out,
            format_args!("{deadline}"),
        )),
        None => out.push(b'-'),
    }
    out.push(b';');
    out
}

/// Splits a row's value into its deadline (µs since the Unix epoch; `None`
/// for a row without a TTL) and its payload; `None` when `value` is not a
/// row of this layout (no header: another application's string).
pub(crate) fn split_row(value: &[u8]) -> Option<(Option<u128>, &[u8])> {
    let end = value.iter().take(MAX_HEADER).position(|&b| b == b';')?;
    let (head, payload) = (&value[..end], &value[end + 1..]);
    if head == b"-" {
        return Some((None, payload));
    }
    if head.is_empty() || !head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 16 digits: parses, and fits.
    let deadline = std::str::from_utf8(head).ok()?.parse().ok()?;
    Some((Some(deadline), payload))
}

/// The key prefix and the naming rules of one store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    prefix: String,
}

/// What a Redis key of this layout holds, read back by
/// [`RedisStore::parse_key`](super::RedisStore::parse_key).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisKey {
    /// A row: the value stored at `(namespace, key)`.
    Row {
        /// The row's namespace.
        namespace: Namespace,
        /// The row's key.
        key: String,
    },
    /// The sorted set of the keys of one namespace.
    KeyIndex(Namespace),
    /// The sorted set of a tenant's namespaces.
    NamespaceIndex(TenantId),
    /// The sorted set of a tenant's rows that have a TTL, by deadline.
    Deadlines(TenantId),
    /// The set of tenants that hold rows with a TTL.
    Registry,
}

impl Layout {
    /// A layout under `prefix`, which must hold no `{` or `}` (the builder
    /// checks; see [`Layout::check_prefix`]).
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix of every key of this layout.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Why `prefix` cannot be used, if it cannot: a brace in it would move
    /// the hash tag off the tenant.
    pub(crate) fn check_prefix(prefix: &str) -> Option<&'static str> {
        prefix
            .contains(['{', '}'])
            .then_some("the key prefix must not contain `{` or `}`: the tenant is the hash tag")
    }

    /// `P{T}`: the start of every key a tenant owns.
    pub(crate) fn tenant_base(&self, tenant: &TenantId) -> String {
        let mut out = String::with_capacity(self.prefix.len() + tenant.as_str().len() + 2);
        self.push_tenant_base(&mut out, tenant);
        out
    }

    fn push_tenant_base(&self, out: &mut String, tenant: &TenantId) {
        out.push_str(&self.prefix);
        out.push('{');
        push_escaped(out, tenant.as_str(), |byte| match byte {
            b'\\' => Some("\\\\"),
            b'}' => Some("\\)"),
            _ => None,
        });
        out.push('}');
    }

    /// `N`: the escaped scope (empty for an empty scope).
    pub(crate) fn scope_id(scope: &[String]) -> String {
        let mut out = String::with_capacity(scope.iter().map(|s| s.len() + 1).sum());
        Self::push_scope_id(&mut out, scope);
        out
    }

    fn push_scope_id(out: &mut String, scope: &[String]) {
        for segment in scope {
            out.push(':');
            push_escaped(out, segment, |byte| match byte {
                b':' => Some("\\:"),
                b'\\' => Some("\\\\"),
                _ => None,
            });
        }
    }

    /// `N\k<key>`: a row's name within its tenant (the member of the
    /// deadline index; appended to the tenant base it is the row's key).
    pub(crate) fn row_member(scope_id: &str, key: &str) -> String {
        let mut out = String::with_capacity(scope_id.len() + KEY_MARK.len() + key.len());
        out.push_str(scope_id);
        out.push_str(KEY_MARK);
        out.push_str(key);
        out
    }

    /// `P{T}N\k<key>`: the Redis key of a row.
    pub fn row_key(&self, ns: &Namespace, key: &str) -> String {
        // One allocation (the get path builds one of these per call), and a
        // second only when escapes lengthen the key past the slack.
        let scope_len: usize = ns.scope().iter().map(|s| s.len() + 1).sum();
        let mut out = String::with_capacity(
            self.prefix.len() + ns.tenant_id().as_str().len() + scope_len + key.len() + 8,
        );
        self.push_tenant_base(&mut out, ns.tenant_id());
        Self::push_scope_id(&mut out, ns.scope());
        out.push_str(KEY_MARK);
        out.push_str(key);
        out
    }

    /// `P{T}\nN`: the key index of one namespace.
    pub(crate) fn key_index(base: &str, scope_id: &str) -> String {
        format!("{base}\\n{scope_id}")
    }

    /// `P{T}\s`: the namespace index of a tenant.
    pub(crate) fn namespace_index(base: &str) -> String {
        format!("{base}\\s")
    }

    /// `P{T}\d`: the deadline index of a tenant.
    pub(crate) fn deadlines(base: &str) -> String {
        format!("{base}\\d")
    }

    /// `P\t`: the tenants holding rows with a TTL.
    pub(crate) fn registry(&self) -> String {
        format!("{}\\t", self.prefix)
    }

    /// Reads a Redis key of this layout back; `None` for a key that no
    /// encoder of this layout produces (another prefix, another
    /// application's key, a broken escape).
    pub fn parse(&self, redis_key: &[u8]) -> Option<RedisKey> {
        let rest = std::str::from_utf8(redis_key.strip_prefix(self.prefix.as_bytes())?).ok()?;
        if rest == "\\t" {
            return Some(RedisKey::Registry);
        }
        let rest = rest.strip_prefix('{')?;
        let (tenant, rest) = parse_tenant(rest)?;
        let tenant = TenantId::try_from(tenant).ok()?;
        match rest {
            "\\s" => Some(RedisKey::NamespaceIndex(tenant)),
            "\\d" => Some(RedisKey::Deadlines(tenant)),
            _ => {
                if let Some(scope_id) = rest.strip_prefix("\\n") {
                    let (scope, tail) = parse_scope(scope_id)?;
                    return tail
                        .is_none()
                        .then(|| RedisKey::KeyIndex(namespace(tenant, scope)));
                }
                let (namespace, key) = parse_row_member(tenant, rest)?;
                Some(RedisKey::Row { namespace, key })
            }
        }
    }

    /// Reads a row's Redis key back to its namespace and key (`None` for
    /// any other key). The inverse of [`Layout::row_key`].
    pub fn parse_row_key(&self, redis_key: &[u8]) -> Option<(Namespace, String)> {
        match self.parse(redis_key)? {
            RedisKey::Row { namespace, key } => Some((namespace, key)),
            _ => None,
        }
    }
}

/// The namespace of `tenant` whose escaped scope is `scope_id` (a member of
/// the namespace index); `None` if `scope_id` is not one.
pub(crate) fn namespace_of(tenant: &TenantId, scope_id: &str) -> Option<Namespace> {
    match parse_scope(scope_id)? {
        (scope, None) => Some(namespace(tenant.clone(), scope)),
        (_, Some(_)) => None,
    }
}

/// Splits `rest` (after the opening `{`) into the unescaped tenant and what
/// follows its closing `}`.
fn parse_tenant(rest: &str) -> Option<(String, &str)> {
    let mut tenant = String::new();
    let mut chars = rest.char_indices();
    while let Some((at, ch)) = chars.next() {
        match ch {
            '}' => return Some((tenant, &rest[at + 1..])),
            '\\' => match chars.next()?.1 {
                '\\' => tenant.push('\\'),
                ')' => tenant.push('}'),
                _ => return None,
            },
            other => tenant.push(other),
        }
    }
    None
}

/// Reads `N` from the start of `text`: the segments, and what follows a
/// `\k` (`None` when `text` ends without one).
fn parse_scope(text: &str) -> Option<(Vec<String>, Option<&str>)> {
    let mut scope: Vec<String> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((at, ch)) = chars.next() {
        match ch {
            ':' => scope.push(String::new()),
            '\\' => match chars.next()?.1 {
                'k' => return Some((scope, Some(&text[at + 2..]))),
                escaped @ (':' | '\\') => scope.last_mut()?.push(escaped),
                _ => return None,
            },
            other => scope.last_mut()?.push(other),
        }
    }
    Some((scope, None))
}

/// Reads `N\k<key>` (a row's member, or a row key after its tenant).
fn parse_row_member(tenant: TenantId, text: &str) -> Option<(Namespace, String)> {
    let (scope, key) = parse_scope(text)?;
    Some((namespace(tenant, scope), key?.to_owned()))
}

fn namespace(tenant: TenantId, scope: Vec<String>) -> Namespace {
    scope
        .into_iter()
        .fold(Namespace::new(tenant), Namespace::with_scope)
}

/// Appends `text` to `out` with each byte that `escape` maps replaced by its
/// escape. Only ASCII bytes are escaped, so every escaped byte is a char
/// boundary, and the runs between them are copied whole (the row key is
/// built on every call, and a push per char cost more than the escaping).
fn push_escaped(out: &mut String, text: &str, escape: impl Fn(u8) -> Option<&'static str>) {
    let mut run = 0;
    for (at, byte) in text.bytes().enumerate() {
        if let Some(escaped) = escape(byte) {
            debug_assert!(byte.is_ascii());
            out.push_str(&text[run..at]);
            out.push_str(escaped);
            run = at + 1;
        }
    }
    out.push_str(&text[run..]);
}

/// The slot-determining part of `key` by Redis Cluster's rule: between the
/// first `{` and the first `}` after it, if that is not empty; else all of it.
#[cfg(test)]
pub(crate) fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        Some(0) | None => key,
        Some(len) => &key[open + 1..open + 1 + len],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ns(tenant: &str, scope: &[&str]) -> Namespace {
        scope
            .iter()
            .fold(Namespace::new(TenantId::new(tenant)), |ns, s| {
                ns.with_scope(*s)
            })
    }

    #[test]
    fn row_keys_read_back() {
        let layout = Layout::new("app:");
        for (tenant, scope, key) in [
            ("acme", &["agent-a", "conv-1"][..], "summary"),
            ("a}b{c\\", &["", "x:y", "\\k", "\\"][..], "\\k:}{"),
            ("}", &[][..], ""),
        ] {
            let ns = ns(tenant, scope);
            let redis_key = layout.row_key(&ns, key);
            assert_eq!(
                layout.parse_row_key(redis_key.as_bytes()),
                Some((ns.clone(), key.to_owned())),
                "{redis_key:?}"
            );
            let base = layout.tenant_base(ns.tenant_id());
            let tag = hash_tag(redis_key.as_bytes());
            assert_eq!(&base.as_bytes()[5..base.len() - 1], tag, "{redis_key:?}");
        }
    }

    #[test]
    fn index_keys_read_back() {
        let layout = Layout::new("p");
        let ns = ns("t}", &["a", ""]);
        let base = layout.tenant_base(ns.tenant_id());
        let scope_id = Layout::scope_id(ns.scope());
        let parse = |k: String| layout.parse(k.as_bytes());
        assert_eq!(
            parse(Layout::key_index(&base, &scope_id)),
            Some(RedisKey::KeyIndex(ns.clone()))
        );
        assert_eq!(
            parse(Layout::namespace_index(&base)),
            Some(RedisKey::NamespaceIndex(TenantId::new("t}")))
        );
        assert_eq!(
            parse(Layout::deadlines(&base)),
            Some(RedisKey::Deadlines(TenantId::new("t}")))
        );
        assert_eq!(parse(layout.registry()), Some(RedisKey::Registry));
    }

    #[test]
    fn foreign_keys_are_not_rows() {
        let layout = Layout::new("p:");
        for key in [
            &b"q:{a}\\kx"[..],
            b"p:{a}",
            b"p:{}\\kx",
            b"p:{a\\x}\\kx",
            b"p:{a}x\\kx",
            b"p:{a}:s\\x\\kk",
            b"p:{a}:s",
            b"p:{a}\\n\\kx",
            b"p:{a}\\s\\kx",
            b"p:{\xff}\\kx",
        ] {
            assert_eq!(layout.parse_row_key(key), None, "{key:?}");
        }
    }

    #[test]
    fn row_headers_split_back() {
        for deadline in [
            None,
            Some(0),
            Some(1_764_512_345_678_901),
            Some((1 << 53) - 1),
        ] {
            let mut value = row_header(deadline);
            assert!(value.len() <= MAX_HEADER);
            value.extend_from_slice(b"{\"a\";1}");
            assert_eq!(split_row(&value), Some((deadline, &b"{\"a\";1}"[..])));
        }
        assert_eq!(split_row(b"-;"), Some((None, &b""[..])));
        for foreign in [
            &b""[..],
            b"plain",
            b";x",
            b"12a;x",
            b"+1;x",
            b"--;x",
            b"12345678901234567;x",
            b"\"a;b\"",
        ] {
            assert_eq!(split_row(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn prefixes_with_braces_are_refused() {
        assert!(Layout::check_prefix("a{b").is_some());
        assert!(Layout::check_prefix("a}b").is_some());
        assert!(Layout::check_prefix("skipstore:").is_none());
    }

    /// Adversarial text: separators, escapes and escape-looking pieces,
    /// globs, braces, NUL, non-ASCII, empty.
    fn text(min: usize) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            ":", "\\", "*", "?", "[", "{", "}", "\0", "\\k", "\\n", "\\:", "\\)", ")", "a", "k",
            "é", "}{", "\\\\",
        ]);
        prop::collection::vec(piece, min..5).prop_map(|p| p.concat())
    }

    fn row() -> impl proptest::strategy::Strategy<Value = (String, Vec<String>, String)> {
        use proptest::prelude::*;
        (text(1), prop::collection::vec(text(0), 0..4), text(0))
    }

    fn all_keys(layout: &Layout, (t, scope, key): &(String, Vec<String>, String)) -> Vec<String> {
        let ns = scope
            .iter()
            .fold(Namespace::new(TenantId::new(t)), |ns, s| ns.with_scope(s));
        let base = layout.tenant_base(ns.tenant_id());
        let scope_id = Layout::scope_id(ns.scope());
        vec![
            layout.row_key(&ns, key),
            Layout::key_index(&base, &scope_id),
            Layout::namespace_index(&base),
            Layout::deadlines(&base),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Every key reads back to what it names, and keeps its tenant's
        /// hash tag; so two different rows (or indexes) never share a key,
        /// and a tenant's keys share one slot.
        #[test]
        fn keys_read_back_and_never_collide(a in row(), b in row()) {
            let layout = Layout::new("p:");
            let keys_a = all_keys(&layout, &a);
            let keys_b = all_keys(&layout, &b);
            let ns_a = a.1.iter().fold(Namespace::new(TenantId::new(&a.0)), |ns, s| ns.with_scope(s));
            proptest::prop_assert_eq!(
                layout.parse(keys_a[0].as_bytes()),
                Some(RedisKey::Row { namespace: ns_a.clone(), key: a.2.clone() })
            );
            proptest::prop_assert_eq!(layout.parse(keys_a[1].as_bytes()), Some(RedisKey::KeyIndex(ns_a)));
            let tag = layout.tenant_base(&TenantId::new(&a.0));
            for key in &keys_a {
                proptest::prop_assert_eq!(hash_tag(key.as_bytes()), &tag.as_bytes()[3..tag.len() - 1]);
            }
            for (i, x) in keys_a.iter().enumerate() {
                for (j, y) in keys_b.iter().enumerate() {
                    let same_thing = match (i, j) {
                        (0, 0) => a == b,
                        (1, 1) => a.0 == b.0 && a.1 == b.1,
                        (2, 2) | (3, 3) => a.0 == b.0,
                        _ => false,
                    };
                    proptest::prop_assert_eq!(x == y, same_thing, "{:?} / {:?}", x, y);
                }
            }
        }
    }
}
