//! The member the set's unit tests and loom models store: a key in one
//! scope, with the hash the test chooses (to force collisions or resizes).

use super::Member;

#[derive(Debug)]
pub(super) struct M {
    pub(super) key: String,
    pub(super) hash: u64,
}

impl Member for M {
    fn sort_key(&self) -> &str {
        &self.key
    }
    fn scope(&self) -> &str {
        "s"
    }
    fn is_gone(&self) -> bool {
        false
    }
    fn point_hash(&self) -> u64 {
        self.hash
    }
}
