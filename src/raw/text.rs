//! Appending a namespace segment that needs no escaping, in one pass: the
//! render's fast path (`crate::render`), which runs on every operation.

/// Nonzero iff some byte of `word` is a `:` or a `\\` (the classic
/// zero-byte test on `word ^ b...b`, for both bytes).
pub(crate) fn has_special(word: u64) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has = |b: u8| {
        let x = word ^ (LOW * u64::from(b));
        x.wrapping_sub(LOW) & !x & HIGH != 0
    };
    has(b':') | has(b'\\')
}

/// Appends `segment` to `out` if it holds no `:` or `\\`, scanning and
/// copying eight bytes per step; returns false, leaving `out` as it was,
/// if it holds one (the caller then escapes it).
pub(crate) fn push_if_clean(out: &mut String, segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let start = out.len();
    out.reserve(bytes.len());
    // SAFETY: R10: bytes are written only into the spare capacity reserved
    // above, and become part of the string (`set_len`) only as a whole
    // copy of `segment` (valid UTF-8); an aborted copy stays past the
    // length, where nothing reads it.
    unsafe {
        let buf = out.as_mut_vec();
        let dst = buf.as_mut_ptr().add(start);
        let mut words = bytes.chunks_exact(8);
        let mut at = 0;
        for chunk in &mut words {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            if has_special(u64::from_le_bytes(word)) {
                return false;
            }
            dst.add(at).cast::<[u8; 8]>().write_unaligned(word);
            at += 8;
        }
        for &b in words.remainder() {
            if b == b':' || b == b'\\' {
                return false;
            }
            dst.add(at).write(b);
            at += 1;
        }
        buf.set_len(start + bytes.len());
    }
    true
}
