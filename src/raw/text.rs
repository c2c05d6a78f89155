//! Text on hot paths: appending a namespace segment that needs no escaping,
//! in one pass (the render's fast path, `crate::render`, which runs on every
//! operation), and [`InlineText`], a short string held in place (a
//! namespace node's name, compared by every point lookup).

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

/// The most bytes an [`InlineText`] holds: with its length byte, 48 bytes.
pub(crate) const INLINE_TEXT: usize = 47;

/// A string of up to [`INLINE_TEXT`] bytes held in place, or a mark that
/// the string is longer (and held elsewhere by the owner).
///
/// For comparisons on hot paths that would otherwise follow a pointer to
/// a heap string: every point lookup compares the namespace it was asked
/// for with its entry's namespace node's name, and a boxed name was two
/// cache lines (the node's field, then the bytes) where this is one.
pub(crate) struct InlineText {
    /// The string's length, or [`LONG`].
    len: u8,
    /// The string's bytes, then zeros.
    bytes: [u8; INLINE_TEXT],
}

/// The length byte of an [`InlineText`] whose string did not fit.
const LONG: u8 = u8::MAX;

const _: () = assert!(INLINE_TEXT < LONG as usize);

impl InlineText {
    /// `text`, in place if it fits; else the mark that it does not.
    pub(crate) fn new(text: &str) -> Self {
        let mut bytes = [0; INLINE_TEXT];
        match (bytes.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(text.as_bytes());
                Self { len, bytes }
            }
            _ => Self { len: LONG, bytes },
        }
    }

    /// The string, if it was held in place.
    pub(crate) fn get(&self) -> Option<&str> {
        let bytes = self.bytes.get(..usize::from(self.len))?;
        // SAFETY: R10: `bytes` are a whole copy of a `&str` (`new`), never
        // changed since.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    /// Whether the string is `text`: `None` if it was not held in place
    /// (the owner compares its own copy).
    #[inline]
    pub(crate) fn is(&self, text: &str) -> Option<bool> {
        if self.len == LONG {
            return None;
        }
        Some(usize::from(self.len) == text.len() && self.bytes[..text.len()] == *text.as_bytes())
    }
}

#[cfg(all(test, not(skipstore_loom)))]
mod tests {
    use super::{INLINE_TEXT, InlineText};

    /// Strings that fit are held and compared in place; longer ones are
    /// marked, whatever their bytes.
    #[test]
    fn inline_text_holds_what_fits_and_marks_the_rest() {
        let fits = "é".repeat(INLINE_TEXT / 2) + "x";
        assert_eq!(fits.len(), INLINE_TEXT);
        for text in [
            "",
            "a",
            "tenant-0001:agent-001:conv-0001",
            "\\0:",
            fits.as_str(),
        ] {
            let held = InlineText::new(text);
            assert_eq!(held.get(), Some(text));
            assert_eq!(held.is(text), Some(true));
            assert_eq!(held.is(&format!("{text}x")), Some(false));
            if let Some((last, _)) = text.char_indices().last() {
                assert_eq!(held.is(&text[..last]), Some(false));
            }
        }
        let long = format!("{fits}y");
        let marked = InlineText::new(&long);
        assert_eq!(marked.get(), None);
        assert_eq!(marked.is(&long), None);
        assert_eq!(marked.is(""), None);
    }
}
