//! Retries of AWS API calls: exponential backoff with full jitter, on
//! throttling, 5xx and network errors; every attempt takes a rate-limit slot
//! (when the API has one) and is counted in `denytrail_aws_api_calls_total`.
//!
//! The SDK's own retries are switched off (see [`crate::aws::config`]) so
//! that this is the one place that retries, counts and rate-limits.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::error::{AwsError, Needs};
use super::metrics::{AwsMetrics, Outcome};
use super::ratelimit::RateLimiter;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all (≥ 1).
    pub max_attempts: u32,
    /// First delay ceiling; doubles with each retry.
    pub base: Duration,
    /// Largest delay ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            max_attempts: 8,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (0-based): uniform in
    /// `[0, min(cap, base·2^retry)]` ("full jitter"), from `random`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = denytrail::aws::Backoff::default();
    /// assert!(b.delay(0, u64::MAX) <= Duration::from_millis(200));
    /// assert!(b.delay(30, u64::MAX) <= Duration::from_secs(20));
    /// ```
    pub fn delay(&self, retry: u32, random: u64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(20))
            .min(self.cap);
        let nanos = ceiling.as_nanos() as u64;
        Duration::from_nanos(if nanos == 0 { 0 } else { random % (nanos + 1) })
    }
}

/// A fresh pseudo-random number for jitter (splitmix64 over a counter seeded
/// from the clock: jitter only needs to differ between callers).
pub(crate) fn jitter_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What kind of failure an API error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Throttled,
    Transient,
    Denied,
    Credentials,
    NoCredentials,
    NotFound,
    Other,
}

const THROTTLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
];
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "Forbidden",
];
const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
];
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
];

/// Classify an SDK error; returns the kind, the code and the message (never
/// the request or credentials).
pub(crate) fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> (Failure, String, String) {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_string);
    let message = err.message().map(str::to_string);
    match err {
        SdkError::DispatchFailure(_) => {
            return (
                Failure::Transient,
                "DispatchFailure".into(),
                sanitize(&chain(err)),
            );
        }
        SdkError::TimeoutError(_) => {
            return (
                Failure::Transient,
                "Timeout".into(),
                "request timed out".into(),
            );
        }
        SdkError::ConstructionFailure(_) => {
            let text = chain(err);
            let kind = if text.contains("credentials") || text.contains("Credentials") {
                Failure::NoCredentials
            } else {
                Failure::Other
            };
            return (kind, "ConstructionFailure".into(), sanitize(&text));
        }
        _ => {}
    }
    let code_s = code.clone().unwrap_or_else(|| match status {
        Some(s) => format!("HTTP {s}"),
        None => "ResponseError".into(),
    });
    let msg = message.unwrap_or_else(|| match err {
        SdkError::ResponseError(_) => sanitize(&chain(err)),
        _ => "no message".into(),
    });
    let c = code.as_deref().unwrap_or("");
    let kind = if THROTTLE_CODES.contains(&c) || status == Some(429) {
        Failure::Throttled
    } else if CREDENTIAL_CODES.contains(&c) {
        Failure::Credentials
    } else if DENIED_CODES.contains(&c) || (code.is_none() && status == Some(403)) {
        Failure::Denied
    } else if NOT_FOUND_CODES.contains(&c) || (code.is_none() && status == Some(404)) {
        Failure::NotFound
    } else if status.is_some_and(|s| s >= 500) || matches!(err, SdkError::ResponseError(_)) {
        Failure::Transient
    } else {
        Failure::Other
    };
    (kind, code_s, msg)
}

fn chain<E: std::error::Error + 'static>(e: &SdkError<E, HttpResponse>) -> String {
    aws_sdk_s3::error::DisplayErrorContext(e).to_string()
}

/// Keep messages short and free of secrets. Error chains can quote a
/// request (an endpoint that echoes headers, a presigned URL), so the value
/// after a credential-bearing name (`X-Amz-Security-Token=…`,
/// `X-Amz-Credential=…`, `X-Amz-Signature=…`, `Authorization: …`) is
/// replaced by `<redacted>`; text naming a secret key or session token is
/// withheld whole.
fn sanitize(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    if ["secret", "session_token", "sessiontoken"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return "request failed (details withheld: they mention credentials)".into();
    }
    let s = redact(s);
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Names whose values are credentials, lower case.
const SECRET_NAMES: &[&str] = &[
    "x-amz-security-token",
    "x-amz-credential",
    "x-amz-signature",
    "authorization",
    "signature",
];

/// `s` with the value after each of [`SECRET_NAMES`] (followed by `=`, `:`
/// or `": "`) replaced by `<redacted>`. An `Authorization` value runs to the
/// end of the line or quote (it holds spaces and commas); the others end at
/// `&`, `,`, `;`, a quote or white space.
fn redact(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hit = SECRET_NAMES
            .iter()
            .find(|n| lower[i..].starts_with(*n) && s.is_char_boundary(i + n.len()));
        let Some(name) = hit else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let after = i + name.len();
        let sep = s[after..]
            .bytes()
            .take_while(|b| matches!(b, b'=' | b':' | b'"' | b' '))
            .count();
        let seps = &s[after..after + sep];
        if sep == 0 || !(seps.contains('=') || seps.contains(':')) {
            out.push_str(&s[i..after]);
            i = after;
            continue;
        }
        let start = after + sep;
        let whole_line = *name == "authorization";
        let len = s[start..]
            .bytes()
            .take_while(|b| match b {
                b'\n' | b'\r' | b'"' | b'\'' => false,
                b'&' | b',' | b';' | b' ' | b'\t' => whole_line && !matches!(b, b'&'),
                _ => true,
            })
            .count();
        out.push_str(&s[i..start]);
        if len > 0 {
            out.push_str("<redacted>");
        }
        i = start + len;
    }
    out
}

/// Where a call goes and what it needs, for counting, limiting and errors.
#[derive(Debug)]
pub struct Call<'a> {
    /// API operation, e.g. `FilterLogEvents` (the metric label).
    pub operation: &'static str,
    /// `s3://bucket/key` or `cloudwatch://group`.
    pub target: &'a str,
    /// The permission the call needs.
    pub needs: Needs,
    /// Rate limit to take a slot from before each attempt.
    pub limiter: Option<&'a RateLimiter>,
    /// Retry settings.
    pub backoff: Backoff,
    /// Where attempts are counted.
    pub metrics: &'a AwsMetrics,
}

impl Call<'_> {
    /// Run `attempt` until it succeeds, fails for good, or runs out of
    /// attempts; throttles and transient failures are retried with jitter.
    pub async fn run<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let max = self.backoff.max_attempts.max(1);
        let mut n = 0u32;
        loop {
            n += 1;
            if let Some(l) = self.limiter {
                l.acquire().await;
            }
            let err = match attempt().await {
                Ok(v) => {
                    self.metrics.api_call(self.operation, Outcome::Ok);
                    return Ok(v);
                }
                Err(e) => e,
            };
            let (kind, code, message) = classify(&err);
            let retry = matches!(kind, Failure::Throttled | Failure::Transient);
            self.metrics.api_call(
                self.operation,
                if kind == Failure::Throttled {
                    Outcome::Throttled
                } else {
                    Outcome::Error
                },
            );
            if retry && n < max {
                let d = self.backoff.delay(n - 1, jitter_random());
                tracing::warn!(
                    operation = self.operation,
                    target = self.target,
                    code = %code,
                    attempt = n,
                    delay_ms = d.as_millis() as u64,
                    "{} {} on {}: {code}; retrying",
                    self.operation,
                    if kind == Failure::Throttled { "throttled" } else { "failed" },
                    self.target,
                );
                tokio::time::sleep(d).await;
                continue;
            }
            let target = self.target.to_string();
            let operation = self.operation;
            return Err(match kind {
                Failure::Throttled | Failure::Transient => AwsError::Exhausted {
                    operation,
                    target,
                    attempts: n,
                    last: format!("{code}: {message}"),
                },
                Failure::Denied => AwsError::Denied {
                    operation,
                    target,
                    code,
                    message,
                    needs: Box::new(self.needs.clone()),
                },
                Failure::Credentials => AwsError::Credentials {
                    operation,
                    target,
                    code,
                    message,
                },
                Failure::NoCredentials => AwsError::NoCredentials {
                    operation,
                    target,
                    detail: message,
                },
                Failure::NotFound => AwsError::NotFound {
                    operation,
                    target,
                    code,
                    message,
                },
                Failure::Other => AwsError::Api {
                    operation,
                    target,
                    code,
                    message,
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let b = Backoff {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for (retry, ceiling_ms) in [
            (0u32, 100u64),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            assert!(b.delay(retry, u64::MAX).as_millis() <= u128::from(ceiling_ms));
            let top = b.delay(retry, ceiling_ms * 1_000_000);
            assert_eq!(top.as_millis(), u128::from(ceiling_ms), "retry {retry}");
            assert_eq!(b.delay(retry, 0), Duration::ZERO);
        }
    }

    #[test]
    fn jitter_differs_between_calls() {
        let a = jitter_random();
        let b = jitter_random();
        assert_ne!(a, b);
    }

    #[test]
    fn sanitize_redacts_credentials_an_endpoint_echoes() {
        let echoed = concat!(
            "403 body: <Request>GET /b?X-Amz-Credential=AKIAEXAMPLE%2F20240501%2Fus-east-1&",
            "X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&x-amz-signature=abc123 HTTP/1.1\n",
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240501, SignedHeaders=host, Signature=deadbeef\n",
            "{\"x-amz-security-token\": \"FQoGZXIvYXdzEXAMPLE\"}</Request>"
        );
        let out = redact(echoed);
        for secret in [
            "AKIAEXAMPLE",
            "IQoJb3JpZ2luX2VjEXAMPLE",
            "abc123",
            "deadbeef",
            "FQoGZXIvYXdzEXAMPLE",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("X-Amz-Security-Token=<redacted>&"), "{out}");
        assert!(out.contains("Authorization: <redacted>\n"), "{out}");
        assert!(out.contains("GET /b?"), "the rest stays: {out}");
        // Names without a value are words, not secrets.
        assert_eq!(
            redact("missing Authorization header"),
            "missing Authorization header"
        );
        assert_eq!(redact("SignatureDoesNotMatch"), "SignatureDoesNotMatch");
    }

    #[test]
    fn sanitize_withholds_credential_text() {
        assert!(!sanitize("bad aws_secret_access_key=abc").contains("abc"));
        assert_eq!(sanitize("connection refused"), "connection refused");
    }
}
