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
/// A cover of [`crate::classify::markers`] (every error code of both
/// families and the `not authorized to perform` phrase), kept short on
/// purpose: each marker is a substring of one or more of the classifier's
/// strings, so fewer, longer literals do the work of 35, and the
/// aho-corasick searcher stays on its fast SIMD (Teddy) path with few
/// distinct 4-byte prefixes. `uthorized` covers `Unauthorized*`,
/// `NotAuthorized` and `not authorized to perform`; `uthorizationE` covers
/// `AuthorizationError*` and `AuthorizationException` (but not the common
/// `GetAuthorizationToken`); `Expired` covers `ExpiredToken*` and
/// `RequestExpired`; `Insufficient` covers both `Insufficient*Exception`s.
/// Markers that would hit most records (`Token`: `nextToken`; `Signature`:
/// S3's `SignatureVersion`) are avoided. A test checks the cover against the
/// classifier's lists, so a code added there without a marker fails the
/// build.
pub const MARKERS: &[&str] = &[
    "AccessDenied",
    "uthorized",
    "uthorizationE",
    "Forbidden",
    "Insufficient",
    "AuthFailure",
    "Expired",
    "InvalidClientTokenId",
    "InvalidToken",
    "InvalidIdentityToken",
    "InvalidAccessKeyId",
    "InvalidSignature",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "RefreshRequired",
    "UnrecognizedClient",
    "MissingAuthenticationToken",
    "security token included in the request is",
];

/// The prefilter pushed down to CloudWatch Logs: a JSON filter pattern that
/// selects a CloudTrail event when its `errorCode` or `errorMessage`
/// contains one of [`MARKERS`], so the server sends every event the
/// classifier would count (and some it will not: the scanner checks them
/// again). Built from the markers, so a code added to the classifier reaches
/// the server filter too; it fits the API's 1,024-character limit (tested).
///
/// ```
/// let p = denytrail::prefilter::cloudtrail_pattern();
/// assert!(p.contains(r#"($.errorCode = "*AccessDenied*")"#));
/// assert!(p.len() <= 1024);
/// ```
pub fn cloudtrail_pattern() -> String {
    let terms: Vec<String> = MARKERS
        .iter()
        .map(|m| format!(r#"($.errorCode = "*{m}*")"#))
        .chain(
            MESSAGE_MARKERS
                .iter()
                .map(|m| format!(r#"($.errorMessage = "*{m}*")"#)),
        )
        .collect();
    format!("{{ {} }}", terms.join(" || "))
}

/// The markers that occur in the message of a denial or an authentication
/// failure whose code is not one of the classifier's (`… is not authorized
/// to perform …`, `The security token included in the request is …`).
const MESSAGE_MARKERS: &[&str] = &["uthorized", "security token included in the request is"];

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
        assert_eq!(p.find_from(b"accessdenied authorize", 0), None);
        assert_eq!(p.find_from(b"AccessDenied", 1), None);
        assert_eq!(p.find_from(b"AccessDenied", 99), None);
    }

    /// A minimal reading of a CloudWatch JSON filter pattern of the form
    /// `{ ($.F = "GLOB") || … }`: which (field, glob) pairs it selects on.
    fn pattern_terms(p: &str) -> Vec<(String, String)> {
        let inner = p
            .trim()
            .strip_prefix('{')
            .unwrap()
            .strip_suffix('}')
            .unwrap();
        inner
            .split(" || ")
            .map(|t| {
                let t = t
                    .trim()
                    .strip_prefix("($.")
                    .unwrap()
                    .strip_suffix(')')
                    .unwrap();
                let (field, value) = t.split_once(" = ").unwrap();
                (field.to_string(), value.trim_matches('"').to_string())
            })
            .collect()
    }

    /// `*` matches any run of characters, as in CloudWatch's string values.
    fn glob(pattern: &str, s: &str) -> bool {
        let parts: Vec<&str> = pattern.split('*').collect();
        let mut rest = s;
        for (i, part) in parts.iter().enumerate() {
            if i == 0 {
                match rest.strip_prefix(part) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if i == parts.len() - 1 {
                return rest.ends_with(part);
            } else {
                match rest.find(part) {
                    Some(k) => rest = &rest[k + part.len()..],
                    None => return false,
                }
            }
        }
        rest.is_empty()
    }

    /// The server-side filter selects every code and message phrase the
    /// classifier keys on, and fits the API's limit.
    #[test]
    fn cloudwatch_pattern_selects_every_classifier_code() {
        let p = cloudtrail_pattern();
        assert!(p.len() <= 1024, "{} characters: {p}", p.len());
        let terms = pattern_terms(&p);
        let selects =
            |field: &str, value: &str| terms.iter().any(|(f, g)| f == field && glob(g, value));
        let codes: Vec<&str> = crate::classify::record::DENIAL_ERROR_CODES
            .iter()
            .chain(crate::classify::record::AUTH_FAILURE_ERROR_CODES)
            .copied()
            .collect();
        assert!(codes.len() > 30);
        for code in codes {
            assert!(selects("errorCode", code), "{code} not selected");
            assert!(
                selects("errorCode", &format!("Client.{code}")),
                "Client.{code}"
            );
        }
        for message in [
            "User: arn:aws:iam::1:user/x is not authorized to perform: s3:GetObject",
            "The security token included in the request is expired",
            "The security token included in the request is invalid.",
        ] {
            assert!(selects("errorMessage", message), "{message}");
        }
        assert!(!selects("errorCode", "ThrottlingException"));
        assert!(!selects("errorCode", "NoSuchKey"));
        assert!(glob("*ab*", "xaby") && !glob("*ab*", "xa") && glob("a*", "abc"));
    }

    /// The contract: every string the classifier keys a denial or an
    /// authentication failure on contains a marker, so no record it would
    /// report is ever dropped by the prefilter.
    #[test]
    fn every_classifier_code_contains_a_marker() {
        let p = Prefilter::new();
        let mut checked = 0;
        for code in crate::classify::markers() {
            for form in [
                code.to_string(),
                format!("Client.{code}"),
                format!("{{\"errorCode\":\"{code}\"}}"),
                format!("com.amazonaws.services.x.model.{code}: message"),
            ] {
                assert!(p.is_candidate(form.as_bytes()), "no marker in {form:?}");
            }
            checked += 1;
        }
        assert!(checked > 30, "the classifier's lists went missing");
        for phrase in [
            "User: arn:aws:iam::1:user/x is not authorized to perform: s3:GetObject",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            "Encoded authorization failure message: abc (not authorized to perform)",
        ] {
            assert!(p.is_candidate(phrase.as_bytes()), "{phrase}");
        }
    }

    /// Records the classifier calls denials or authentication failures are
    /// always candidates; ordinary allowed calls mostly are not.
    #[test]
    fn prefilter_never_drops_a_generated_denial() {
        use crate::classify::{Outcome, RecordKind, classify};
        use crate::generate::{CorpusConfig, Generator};
        let p = Prefilter::new();
        let cfg = CorpusConfig::builder()
            .seed(11)
            .records(20_000)
            .denial_rate(0.2)
            .build()
            .unwrap();
        let (mut found, mut candidates, mut total) = (0, 0, 0);
        for rec in Generator::new(&cfg) {
            total += 1;
            let cand = p.is_candidate(&rec.json);
            candidates += u64::from(cand);
            if let Ok(Outcome::Denial(_) | Outcome::AuthFailure(_)) =
                classify(&rec.json, RecordKind::CloudTrailJson)
            {
                found += 1;
                assert!(cand, "{}", String::from_utf8_lossy(&rec.json));
            }
        }
        assert!(found > 2_000, "{found}");
        // False positives are allowed, but they cost a parse each.
        assert!(candidates < total / 3, "{candidates} of {total}");
    }

    #[test]
    fn is_send_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Prefilter>();
    }
}
