//! Rendering namespaces to their flat, escaped form without allocating.
//!
//! The rules are entelix-memory's (`Namespace::render`): segments joined by
//! `:`, with `:` and `\` inside a segment escaped as `\:` and `\\`. Because
//! the escaping is a prefix code read left to right, the rendered form of a
//! namespace starts with `render(prefix) + ":"` exactly when the prefix
//! matches it structurally, which is what lets `list_namespaces` be a range
//! scan. `tests/namespace_order.rs` checks this against
//! `NamespacePrefix::matches`.

use std::cell::RefCell;

use entelix_memory::{Namespace, NamespacePrefix};

thread_local! {
    static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Whether `bytes` holds a `:` or a `\\`, eight bytes per step.
#[cfg(test)]
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if crate::raw::text::has_special(u64::from_le_bytes(word)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b == b':' || b == b'\\')
}

/// Appends `segment`, escaped. Render runs on every operation and segments
/// rarely need escaping, so the common case scans and copies in one pass,
/// eight bytes per step (`raw::text`, which holds the copy's `unsafe`), and
/// falls back to the escaping loop only when it meets a `:` or a `\\`.
fn push_escaped(out: &mut String, segment: &str) {
    if crate::raw::text::push_if_clean(out, segment) {
        return;
    }
    for ch in segment.chars() {
        if matches!(ch, ':' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
}

fn render_into(out: &mut String, tenant: &str, scope: &[String]) {
    out.clear();
    push_escaped(out, tenant);
    for s in scope {
        out.push(':');
        push_escaped(out, s);
    }
}

/// Runs `f` on the rendered form of `ns`, using a per-thread buffer so the
/// read path does not allocate. Re-entrant calls (a `Clone` impl that uses a
/// store, say) fall back to a fresh string.
pub(crate) fn with_rendered<R>(ns: &Namespace, f: impl FnOnce(&str) -> R) -> R {
    let tenant = ns.tenant_id().as_str();
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            render_into(&mut buf, tenant, ns.scope());
            f(&buf)
        }
        Err(_) => {
            let mut own = String::new();
            render_into(&mut own, tenant, ns.scope());
            f(&own)
        }
    })
}

/// The rendered form a namespace equal to `prefix` would have.
pub(crate) fn render_prefix(prefix: &NamespacePrefix) -> String {
    let mut out = String::new();
    render_into(&mut out, prefix.tenant_id().as_str(), prefix.scope());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use entelix_core::TenantId;

    #[test]
    fn matches_entelix_render() {
        let cases = [
            Namespace::new(TenantId::new("acme")),
            Namespace::new(TenantId::new("a:b"))
                .with_scope("c\\d")
                .with_scope(""),
            Namespace::new(TenantId::new("\\"))
                .with_scope(":")
                .with_scope("\0é"),
        ];
        for ns in &cases {
            with_rendered(ns, |r| assert_eq!(r, ns.render()));
            assert_eq!(render_prefix(&NamespacePrefix::from(ns)), ns.render());
        }
    }

    #[test]
    fn reentrant_render_does_not_panic() {
        let ns = Namespace::new(TenantId::new("t")).with_scope("x");
        let inner = with_rendered(&ns, |outer| {
            with_rendered(&ns, |inner| format!("{outer}|{inner}"))
        });
        assert_eq!(inner, "t:x|t:x");
    }

    /// Segment lengths the escaping tests try: every position in two
    /// whole eight-byte words and a tail at least (Miri runs the shorter
    /// range; the native run, five words).
    const MAX_LEN: usize = if cfg!(miri) { 17 } else { 40 };

    #[test]
    fn push_escaped_matches_the_plain_escaping_loop() {
        let plain = |seg: &str| {
            let mut out = String::from("p:");
            for ch in seg.chars() {
                if matches!(ch, ':' | '\\') {
                    out.push('\\');
                }
                out.push(ch);
            }
            out
        };
        for len in 0..MAX_LEN {
            for filler in ["a", "é", "9", ";", "\0"] {
                let base: Vec<&str> = std::iter::repeat_n(filler, len).collect();
                let seg = base.concat();
                let mut out = String::from("p:");
                push_escaped(&mut out, &seg);
                assert_eq!(out, plain(&seg));
                for at in 0..len {
                    for special in [":", "\\"] {
                        let mut parts = base.clone();
                        parts[at] = special;
                        let seg = parts.concat();
                        let mut out = String::from("p:");
                        push_escaped(&mut out, &seg);
                        assert_eq!(out, plain(&seg), "{seg:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn escape_scan_finds_every_special_byte_at_every_position() {
        let naive = |b: &[u8]| b.iter().any(|&c| c == b':' || c == b'\\');
        for len in 0..MAX_LEN {
            for filler in [
                b'a', b'9', b';', b'[', b']', 0x39, 0x3b, 0x5b, 0x5d, 0x80, 0xff, 0,
            ] {
                let mut bytes = vec![filler; len];
                assert_eq!(needs_escape(&bytes), naive(&bytes), "{bytes:?}");
                for at in 0..len {
                    for special in [b':', b'\\'] {
                        let keep = bytes[at];
                        bytes[at] = special;
                        assert!(needs_escape(&bytes), "{bytes:?}");
                        bytes[at] = keep;
                    }
                }
            }
        }
    }
}
