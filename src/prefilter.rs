//! The raw-bytes prefilter: one aho-corasick scan for the markers every
//! denial or authentication failure must contain.
//!
//! Contract: false positives allowed, false negatives never. A record that
//! contains none of [`MARKERS`] classifies as [`Outcome::Other`]
//! (checked by a test over every denial and authentication-failure code the
//! classifier knows, and by a property test over generated records).
//!
//! [`Outcome::Other`]: crate::classify::Outcome::Other

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Byte strings at least one of which occurs in every record that classifies
/// as a denial or an authentication failure.
///
/// `AccessDenied` covers `AccessDeniedException`; `Unauthorized` covers
/// `UnauthorizedOperation`, `Client.UnauthorizedOperation`,
/// `UnauthorizedAccess`, `UnauthorizedException`; `not authorized` covers the
/// message `is not authorized to perform`.
pub const MARKERS: &[&str] = &[
    "AccessDenied",
    "Access Denied",
    "Unauthorized",
    "not authorized",
    "NotAuthorized",
    "AuthorizationError",
    "AuthorizationFailure",
    "Forbidden",
    "InsufficientPrivileges",
    "InvalidClientTokenId",
    "ExpiredToken",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "IncompleteSignature",
    "InvalidAccessKeyId",
];

/// The compiled marker automaton. Build once, share across threads.
///
/// ```
/// use denytrail::prefilter::Prefilter;
/// let p = Prefilter::new();
/// assert!(p.is_candidate(br#"{"errorCode":"AccessDenied"}"#));
/// assert!(!p.is_candidate(br#"{"eventName":"GetObject"}"#));
/// ```
#[derive(Debug, Clone)]
pub struct Prefilter {
    ac: AhoCorasick,
}

impl Default for Prefilter {
    fn default() -> Self {
        Self::new()
    }
}

impl Prefilter {
    /// Compile [`MARKERS`].
    pub fn new() -> Prefilter {
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(MARKERS)
            .expect("the markers are a fixed set of short literals");
        Prefilter { ac }
    }

    /// Does `hay` contain any marker?
    #[inline]
    pub fn is_candidate(&self, hay: &[u8]) -> bool {
        self.ac.is_match(hay)
    }

    /// The position of the first marker at or after `from`, if any.
    #[inline]
    pub fn find_from(&self, hay: &[u8], from: usize) -> Option<usize> {
        if from >= hay.len() {
            return None;
        }
        self.ac
            .find(aho_corasick::Input::new(hay).span(from..hay.len()))
            .map(|m| m.start())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_marker_and_nothing_else() {
        let p = Prefilter::new();
        for m in MARKERS {
            let hay = format!("xx {m} yy");
            assert_eq!(p.find_from(hay.as_bytes(), 0), Some(3), "{m}");
        }
        assert_eq!(p.find_from(b"accessdenied authorized", 0), None);
        assert_eq!(p.find_from(b"AccessDenied", 1), None);
        assert_eq!(p.find_from(b"AccessDenied", 99), None);
    }

    #[test]
    fn is_send_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Prefilter>();
    }
}
