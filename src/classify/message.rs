//! Read AWS authorization-failure messages.
//!
//! [`parse_message`] takes one message (a CloudTrail `errorMessage`, or the
//! text `denytrail explain` is given) and pulls out who was denied what, on
//! which resource, and why:
//!
//! ```text
//! User: ARN is not authorized to perform: ACTION [on resource: RES]
//!     [because no POLICY-TYPE allows the ACTION action
//!     | with an explicit deny in a POLICY-TYPE[: POLICY-ARN]]
//! ```
//!
//! plus EC2's `Encoded authorization failure message: …`, S3's quoted
//! resources, the legacy `on resource: role NAME`, and messages cut at
//! CloudTrail's 1024-character limit. [`classify_text_line`] does the same for
//! a plain-text log line carrying an SDK error.
//!
//! Pure; never panics on any input.

use std::borrow::Cow;

use serde::Serialize;

use super::principal::{self, Arn};
use super::record::{is_auth_failure_code, is_denial_code};
use super::{AuthFailure, Denial, DenyKind, Outcome, PolicyType, Reason};

/// The phrase every enhanced denial message carries (after `is` or `are`).
/// STS's `Not authorized to perform …` is parsed too, but does not by itself
/// make a denial: its records carry a denial error code.
pub const NOT_AUTHORIZED: &str = "not authorized to perform";

/// [`NOT_AUTHORIZED`] without its first letter, to match either case.
const OT_AUTHORIZED: &str = "ot authorized to perform";

/// The marker of EC2's encoded authorization failure messages.
pub const ENCODED_MARKER: &str = "Encoded authorization failure message:";

/// What a denial message says. Borrowed from the message where possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedMessage<'a> {
    /// The caller the message names (`User: arn:…`), as written.
    pub principal: Option<&'a str>,
    /// The denied action (`iam:PassRole`).
    pub action: Option<&'a str>,
    /// The resource (`on resource: …`), unquoted. The legacy `role NAME`
    /// form becomes an ARN when the message's principal names the account.
    pub resource: Option<Cow<'a, str>>,
    /// Why, from the message tail.
    pub reason: Reason,
    /// The message carries the (lower-case) [`NOT_AUTHORIZED`] phrase.
    pub not_authorized: bool,
    /// An EC2 encoded authorization failure message.
    pub encoded: bool,
    /// The encoded blob (decode it with `aws sts decode-authorization-message`).
    pub encoded_message: Option<&'a str>,
    /// The message was cut (ends in `...`): the last field may be missing.
    pub truncated: bool,
}

/// Parse one authorization-failure message.
///
/// ```
/// use denytrail::classify::{message::parse_message, DenyKind, PolicyType};
/// let m = parse_message("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: \
///     iam:PassRole on resource: arn:aws:iam::123456789012:role/exec \
///     because no identity-based policy allows the iam:PassRole action");
/// assert_eq!(m.principal, Some("arn:aws:iam::123456789012:user/ci"));
/// assert_eq!(m.action, Some("iam:PassRole"));
/// assert_eq!(m.resource.as_deref(), Some("arn:aws:iam::123456789012:role/exec"));
/// assert_eq!(m.reason.kind, DenyKind::Implicit);
/// assert_eq!(m.reason.policy_type, Some(PolicyType::IdentityBased));
/// ```
pub fn parse_message(msg: &str) -> ParsedMessage<'_> {
    let trimmed = msg.trim_end();
    let truncated = trimmed.ends_with("...") || trimmed.ends_with('…');
    let mut out = ParsedMessage {
        principal: None,
        action: None,
        resource: None,
        reason: Reason::UNKNOWN,
        not_authorized: false,
        encoded: false,
        encoded_message: None,
        truncated,
    };

    if let Some(i) = msg.find(ENCODED_MARKER) {
        out.encoded = true;
        let blob = first_token(&msg[i + ENCODED_MARKER.len()..]);
        out.encoded_message = (!blob.is_empty()).then_some(blob);
    }

    // The part of the message the reason is searched in.
    let mut tail = msg;
    // EC2 prefixes the real sentence with "You are not authorized to perform
    // this operation. User: … is not authorized to perform: iam:PassRole …":
    // use the first occurrence that names an action, else the first one.
    let at = msg
        .match_indices(OT_AUTHORIZED)
        .map(|(p, _)| p)
        .find(|&p| names_action(&msg[p + OT_AUTHORIZED.len()..]))
        .or_else(|| msg.find(OT_AUTHORIZED));
    if let Some(p) = at {
        let before = &msg[..p];
        out.not_authorized = before.ends_with('n');
        out.principal = principal_before(before.strip_suffix(['n', 'N']).unwrap_or(before));
        let after = &msg[p + OT_AUTHORIZED.len()..];
        tail = after;
        // `perform: iam:PassRole`, or STS's `perform sts:AssumeRoleWithWebIdentity`.
        let a = after.strip_prefix(':').or_else(|| after.strip_prefix(' '));
        if let Some(a) = a {
            let a = a.trim_start();
            let tok = first_token(a);
            let action = trim_punct(tok);
            let cut = truncated && is_last_token(a, tok);
            if action.contains(':') && !cut && !action.contains('"') {
                out.action = Some(action);
            }
            let rest = a.get(tok.len()..).unwrap_or("");
            let (resource, rest) = resource_after(rest, truncated);
            tail = rest;
            out.resource = resource.map(|r| legacy_to_arn(r, out.principal));
        }
    }
    out.reason = parse_reason(tail, truncated);
    out
}

/// Does the text after "…ot authorized to perform" name an action
/// (`: iam:PassRole`, or STS's ` sts:AssumeRoleWithWebIdentity`)?
fn names_action(after: &str) -> bool {
    after
        .strip_prefix(':')
        .or_else(|| after.strip_prefix(' '))
        .map(|a| trim_punct(first_token(a.trim_start())))
        .is_some_and(|t| t.contains(':') && !t.contains('"'))
}

/// The principal named before "is not authorized": the token after the last
/// `User: `, else an ARN right before the phrase.
fn principal_before(before: &str) -> Option<&str> {
    let before = before.trim_end();
    let before = before
        .strip_suffix(" is")
        .or_else(|| before.strip_suffix(" are"))
        .unwrap_or(before)
        .trim_end();
    if let Some(i) = before.rfind("User: ") {
        let cand = first_token(before[i + "User: ".len()..].trim_start());
        return (!cand.is_empty()).then_some(cand);
    }
    let last = before.rsplit(char::is_whitespace).next().unwrap_or("");
    last.starts_with("arn:").then_some(last)
}

/// The resource after an action: `on resource: X`, `on resource: "X"`,
/// `on resource: role NAME`. Returns it and the rest of the message.
fn resource_after(rest: &str, truncated: bool) -> (Option<&str>, &str) {
    let r = rest.trim_start();
    let Some(r) = r.strip_prefix("on resource") else {
        return (None, rest);
    };
    let r = r.strip_prefix(':').unwrap_or(r).trim_start();
    if let Some(q) = r.strip_prefix('"') {
        return match q.find('"') {
            Some(end) => (Some(&q[..end]).filter(|s| !s.is_empty()), &q[end + 1..]),
            // Cut before the closing quote.
            None => (None, ""),
        };
    }
    let tok = first_token(r);
    let after = r.get(tok.len()..).unwrap_or("");
    if matches!(
        tok,
        "role" | "user" | "group" | "policy" | "instance-profile"
    ) {
        let a = after.trim_start();
        let name = trim_punct(first_token(a));
        if !name.is_empty() && name != "because" && name != "with" {
            let start = tok.len() + (after.len() - a.len());
            let end = start + name.len();
            let cut = truncated && is_last_token(a, name);
            let res = r.get(..end).filter(|_| !cut);
            return (res, r.get(end..).unwrap_or(""));
        }
    }
    let res = trim_punct(tok);
    if res.is_empty() || (truncated && is_last_token(r, tok)) {
        return (None, after);
    }
    (Some(res), after)
}

/// `role NAME` → `arn:PARTITION:iam::ACCT:role/NAME` when the principal's ARN
/// names the account; other text is kept.
fn legacy_to_arn<'a>(res: &'a str, principal: Option<&str>) -> Cow<'a, str> {
    let arn = principal.and_then(Arn::parse);
    match arn {
        Some(a) if !a.account.is_empty() => {
            match super::resource::legacy_resource_arn(res, a.partition, a.account) {
                Some(s) => Cow::Owned(s),
                None => Cow::Borrowed(res),
            }
        }
        _ => Cow::Borrowed(res),
    }
}

/// Parse the reason from a message tail.
///
/// ```
/// use denytrail::classify::{message::parse_reason, DenyKind, PolicyType};
/// let r = parse_reason("with an explicit deny in a service control policy: \
///     arn:aws:organizations::111122223333:policy/o-abc/service_control_policy/p-abc", false);
/// assert_eq!(r.kind, DenyKind::Explicit);
/// assert_eq!(r.policy_type, Some(PolicyType::ServiceControlPolicy));
/// assert_eq!(r.policy_arn.as_deref(), Some("arn:aws:organizations::111122223333:policy/o-abc/service_control_policy/p-abc"));
/// ```
pub fn parse_reason(tail: &str, truncated: bool) -> Reason {
    if let Some(i) = tail.find("because no ") {
        let rest = &tail[i + "because no ".len()..];
        return Reason {
            kind: DenyKind::Implicit,
            policy_type: policy_type_at(rest).map(|(p, _)| p),
            policy_arn: None,
        };
    }
    if let Some(i) = tail.find("explicit deny") {
        let rest = tail[i + "explicit deny".len()..].trim_start();
        let rest = rest
            .strip_prefix("in an ")
            .or_else(|| rest.strip_prefix("in a "))
            .or_else(|| rest.strip_prefix("in "));
        let mut reason = Reason {
            kind: DenyKind::Explicit,
            policy_type: None,
            policy_arn: None,
        };
        if let Some((p, after)) = rest.and_then(policy_type_at) {
            reason.policy_type = Some(p);
            if let Some(a) = after.strip_prefix(':') {
                let a = a.trim_start();
                let tok = first_token(a);
                let arn = trim_punct(tok);
                if arn.starts_with("arn:") && !(truncated && is_last_token(a, tok)) {
                    reason.policy_arn = Some(arn.to_string());
                }
            }
        }
        return reason;
    }
    Reason::UNKNOWN
}

/// The policy type whose phrase starts `s` (ASCII case-insensitive), and the
/// text after it.
fn policy_type_at(s: &str) -> Option<(PolicyType, &str)> {
    PolicyType::ALL.into_iter().find_map(|p| {
        let phrase = p.phrase();
        let head = s.get(..phrase.len())?;
        head.eq_ignore_ascii_case(phrase)
            .then(|| (p, &s[phrase.len()..]))
    })
}

/// The text up to the first whitespace.
fn first_token(s: &str) -> &str {
    let s = s.trim_start();
    s.split(char::is_whitespace).next().unwrap_or("")
}

/// Strip sentence punctuation around a token.
fn trim_punct(tok: &str) -> &str {
    tok.trim_end_matches(['.', ',', ';', ')', '"', '\''])
        .trim_start_matches(['"', '\'', '('])
}

/// Whether `tok` (a prefix of `s` after leading whitespace) is the last
/// token of `s`, i.e. what a truncation would have cut.
fn is_last_token(s: &str, tok: &str) -> bool {
    s.trim_start()
        .get(tok.len()..)
        .is_some_and(|r| r.trim().is_empty())
}

/// Classify one plain-text log line carrying an SDK error.
///
/// A denial when the line says "not authorized to perform" or names an
/// error code of the denial family; an authentication failure when it names one of those
/// codes; else [`Outcome::Other`]. Invalid UTF-8 is read lossily.
///
/// ```
/// use denytrail::classify::{message::classify_text_line, Outcome};
/// let line = b"2024-05-01T12:00:00Z ERROR AccessDeniedException: User: \
///     arn:aws:sts::123456789012:assumed-role/ProfilerRole/i-0abc is not authorized to perform: \
///     codeguru-profiler:ConfigureAgent on resource: \
///     arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api";
/// let Outcome::Denial(d) = classify_text_line(line) else { panic!() };
/// assert_eq!(d.principal, "arn:aws:iam::123456789012:role/ProfilerRole");
/// assert_eq!(d.action, "codeguru-profiler:ConfigureAgent");
/// assert_eq!(d.error_code.as_deref(), Some("AccessDeniedException"));
/// assert_eq!(d.event_time.as_deref(), Some("2024-05-01T12:00:00Z"));
/// ```
pub fn classify_text_line(bytes: &[u8]) -> Outcome {
    let line = String::from_utf8_lossy(bytes);
    let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if line.is_empty() {
        return Outcome::Other;
    }
    let code = error_code_in_line(line);
    let parsed = parse_message(line);
    // "is not authorized to perform" only counts when it names an action:
    // prose about denials ("a runbook for when a call is not authorized to
    // perform an action") is not one.
    let denied = (parsed.not_authorized && parsed.action.is_some())
        || code.is_some_and(|(c, _)| is_denial_code(c));
    if !denied {
        return match code {
            Some((c, _)) if is_auth_failure_code(c) => Outcome::AuthFailure(AuthFailure {
                error_code: c.to_string(),
                event_id: None,
                event_time: leading_timestamp(line),
            }),
            _ => Outcome::Other,
        };
    }
    let p = principal::resolve(&principal::Identity::default(), parsed.principal);
    let res_arn = parsed.resource.as_deref().and_then(Arn::parse);
    let account = res_arn
        .map(|a| a.account)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .or_else(|| p.account.clone());
    let region = res_arn
        .map(|a| a.region)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let message = code
        .map(|(_, end)| line.get(end..).unwrap_or("").trim_start())
        .filter(|m| !m.is_empty())
        .unwrap_or(line);
    Outcome::Denial(Box::new(Denial {
        principal: p.principal,
        principal_kind: p.kind,
        principal_account: p.account,
        session: p.session,
        action: parsed
            .action
            .map_or_else(|| "unknown".to_string(), super::actions::normalize),
        via: None,
        resource: parsed.resource.map(Cow::into_owned),
        reason: parsed.reason,
        account,
        region,
        event_time: leading_timestamp(line),
        event_id: None,
        shared_event_id: None,
        vpc_endpoint_id: None,
        error_code: code.map(|(c, _)| c.to_string()),
        event_source: None,
        encoded: parsed.encoded,
        truncated: parsed.truncated,
        message: message.to_string(),
    }))
}

/// The error code a log line names, and the byte offset where the message
/// after it starts. Tries, in order: Java SDK v1's `Error Code: X`,
/// botocore's `An error occurred (X)`, then an exception name followed by a
/// colon (`…model.AccessDeniedException:`, `Client.UnauthorizedOperation:`)
/// before the message.
fn error_code_in_line(line: &str) -> Option<(&str, usize)> {
    let msg_start = line
        .find("User: ")
        .or_else(|| line.find(NOT_AUTHORIZED))
        .unwrap_or(line.len());
    // The exception-name form also gives where the message starts.
    let mut named: Option<(&str, usize)> = None;
    let mut pos = 0;
    for tok in line[..msg_start].split(' ') {
        let end = pos + tok.len();
        pos = end + 1;
        let Some(name) = tok.strip_suffix(':') else {
            continue;
        };
        let name = name.trim_start_matches(['[', '(', '"', '\'']);
        if let Some(code) = exception_name(name) {
            named = Some((code, end));
        }
    }
    if let Some(i) = line.find("Error Code: ") {
        let c = line[i + "Error Code: ".len()..]
            .split([';', ')', ',', ' '])
            .next()
            .unwrap_or("");
        if is_code_like(c) {
            return Some((c, named.map_or(0, |(_, e)| e)));
        }
    }
    if let Some(i) = line.find("An error occurred (") {
        let rest = &line[i + "An error occurred (".len()..];
        if let Some(j) = rest.find(')') {
            let c = &rest[..j];
            if is_code_like(c) {
                let start = rest[j..].find("operation: ").map_or(i, |k| {
                    i + "An error occurred (".len() + j + k + "operation:".len()
                });
                return Some((c, start));
            }
        }
    }
    named
}

/// The error code in an exception name: the name itself when it is a known
/// code, else the part after the last `.` when that is a known code or ends
/// in `Exception`, `Error` or `Fault`.
fn exception_name(name: &str) -> Option<&str> {
    if name.is_empty() {
        return None;
    }
    if is_denial_code(name) || is_auth_failure_code(name) {
        return Some(name);
    }
    let short = name.rsplit('.').next().unwrap_or(name);
    if !is_code_like(short) {
        return None;
    }
    let known = is_denial_code(short) || is_auth_failure_code(short);
    let generic = (short.ends_with("Exception") || short.ends_with("Fault"))
        && short != "Exception"
        && short != "ClientError"
        && short != "SdkClientException";
    known.then_some(short).or(generic.then_some(short))
}

fn is_code_like(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 96
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        && c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
}

/// A leading ISO-8601 timestamp (`2024-05-01T12:00:00.123Z`,
/// `2024-05-01 12:00:00,123`, optionally in `[…]`), with a space or comma
/// normalized to `T` / `.` so it compares with CloudTrail's `eventTime`.
///
/// ```
/// use denytrail::classify::message::leading_timestamp;
/// assert_eq!(leading_timestamp("2024-05-01 12:00:00,123 ERROR x").as_deref(), Some("2024-05-01T12:00:00.123"));
/// assert_eq!(leading_timestamp("[2024-05-01T12:00:00+00:00] x").as_deref(), Some("2024-05-01T12:00:00+00:00"));
/// assert_eq!(leading_timestamp("ERROR 2024-05-01T12:00:00Z"), None);
/// ```
pub fn leading_timestamp(line: &str) -> Option<String> {
    let s = line.trim_start().trim_start_matches('[').as_bytes();
    let digit = |i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let at = |i: usize, c: u8| s.get(i) == Some(&c);
    let shape = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .all(|&i| digit(i))
        && at(4, b'-')
        && at(7, b'-')
        && (at(10, b'T') || at(10, b' '))
        && at(13, b':')
        && at(16, b':');
    if !shape {
        return None;
    }
    let mut end = 19;
    if (at(end, b'.') || at(end, b',')) && digit(end + 1) {
        end += 1;
        while digit(end) {
            end += 1;
        }
    }
    if at(end, b'Z') {
        end += 1;
    } else if (at(end, b'+') || at(end, b'-')) && digit(end + 1) && digit(end + 2) {
        end += 3;
        if at(end, b':') {
            end += 1;
        }
        if digit(end) && digit(end + 1) {
            end += 2;
        }
    }
    let ts = std::str::from_utf8(s.get(..end)?).ok()?;
    let mut out = ts.to_string();
    // SAFETY of indices: bytes 10 and 19 are ASCII by the shape check.
    out.replace_range(10..11, "T");
    if out.as_bytes().get(19) == Some(&b',') {
        out.replace_range(19..20, ".");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DenyKind::*;
    use PolicyType::*;

    struct Case {
        msg: &'static str,
        principal: Option<&'static str>,
        action: Option<&'static str>,
        resource: Option<&'static str>,
        kind: DenyKind,
        policy: Option<PolicyType>,
        policy_arn: Option<&'static str>,
        encoded: bool,
        truncated: bool,
    }

    const BASE: Case = Case {
        msg: "",
        principal: None,
        action: None,
        resource: None,
        kind: Unknown,
        policy: None,
        policy_arn: None,
        encoded: false,
        truncated: false,
    };

    fn cases() -> Vec<Case> {
        vec![
            Case {
                msg: "User: arn:aws:iam::123456789012:user/profiler-viewer is not authorized to perform: codeguru-profiler:DescribeProfilingGroup on resource: my-example-profiling-group",
                principal: Some("arn:aws:iam::123456789012:user/profiler-viewer"),
                action: Some("codeguru-profiler:DescribeProfilingGroup"),
                resource: Some("my-example-profiling-group"),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/ci-deployer is not authorized to perform: iam:PassRole",
                principal: Some("arn:aws:iam::123456789012:user/ci-deployer"),
                action: Some("iam:PassRole"),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:sts::123456789012:assumed-role/DeployRole/session-1 is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/lambda-exec because no identity-based policy allows the iam:PassRole action",
                principal: Some("arn:aws:sts::123456789012:assumed-role/DeployRole/session-1"),
                action: Some("iam:PassRole"),
                resource: Some("arn:aws:iam::123456789012:role/lambda-exec"),
                kind: Implicit,
                policy: Some(IdentityBased),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::777788889999:user/JohnDoe is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action",
                principal: Some("arn:aws:iam::777788889999:user/JohnDoe"),
                action: Some("codecommit:ListRepositories"),
                kind: Implicit,
                policy: Some(IdentityBased),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codecommit:ListRespositories with an explicit deny in a service control policy: arn:aws:organizations::111122223333:policy/o-abcdefghij/service_control_policy/p-abcdefghij",
                principal: Some("arn:aws:iam::123456789012:user/JohnDoe"),
                action: Some("codecommit:ListRespositories"),
                kind: Explicit,
                policy: Some(ServiceControlPolicy),
                policy_arn: Some(
                    "arn:aws:organizations::111122223333:policy/o-abcdefghij/service_control_policy/p-abcdefghij",
                ),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:sts::123456789012:assumed-role/R/s is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::bucket/key\" because no VPC endpoint policy allows the s3:GetObject action",
                principal: Some("arn:aws:sts::123456789012:assumed-role/R/s"),
                action: Some("s3:GetObject"),
                resource: Some("arn:aws:s3:::bucket/key"),
                kind: Implicit,
                policy: Some(VpcEndpointPolicy),
                ..BASE
            },
            // S3 keys may hold spaces; the quotes keep them.
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::b/a key with because no in it\" with an explicit deny in a resource-based policy",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("s3:PutObject"),
                resource: Some("arn:aws:s3:::b/a key with because no in it"),
                kind: Explicit,
                policy: Some(ResourceBased),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k with an explicit deny in a permissions boundary",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("s3:GetObject"),
                resource: Some("arn:aws:s3:::b/k"),
                kind: Explicit,
                policy: Some(PermissionsBoundary),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:sts::123456789012:assumed-role/R/s is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/T because no session policy allows the dynamodb:GetItem action",
                principal: Some("arn:aws:sts::123456789012:assumed-role/R/s"),
                action: Some("dynamodb:GetItem"),
                resource: Some("arn:aws:dynamodb:us-east-1:123456789012:table/T"),
                kind: Implicit,
                policy: Some(SessionPolicy),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::111122223333:user/u is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:444455556666:key/1234 because no resource-based policy allows the kms:Decrypt action",
                principal: Some("arn:aws:iam::111122223333:user/u"),
                action: Some("kms:Decrypt"),
                resource: Some("arn:aws:kms:us-east-1:444455556666:key/1234"),
                kind: Implicit,
                policy: Some(ResourceBased),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" with an explicit deny in a resource control policy",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("s3:GetObject"),
                resource: Some("arn:aws:s3:::b/k"),
                kind: Explicit,
                policy: Some(ResourceControlPolicy),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::123456789012:user/x with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/DenyAll",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("iam:CreateUser"),
                resource: Some("arn:aws:iam::123456789012:user/x"),
                kind: Explicit,
                policy: Some(IdentityBased),
                policy_arn: Some("arn:aws:iam::123456789012:policy/DenyAll"),
                ..BASE
            },
            // Older explicit-deny wording, no policy type.
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: ec2:TerminateInstances on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-1 with an explicit deny",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("ec2:TerminateInstances"),
                resource: Some("arn:aws:ec2:us-east-1:123456789012:instance/i-1"),
                kind: Explicit,
                ..BASE
            },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: codecommit:ListRepositories because no service control policy allows the codecommit:ListRepositories action",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("codecommit:ListRepositories"),
                kind: Implicit,
                policy: Some(ServiceControlPolicy),
                ..BASE
            },
            Case {
                msg: "You are not authorized to perform this operation. Encoded authorization failure message: 4GIOHlTkIaWHQD0Q0m6XSnuUMCm-abcd...",
                encoded: true,
                truncated: true,
                ..BASE
            },
            Case {
                msg: "You are not authorized to perform this operation. Encoded authorization failure message: 4GIOHlTkIaWHQD0Q0m6XSnuUMCm-abcd",
                encoded: true,
                ..BASE
            },
            Case {
                msg: "Access Denied",
                ..BASE
            },
            Case { msg: "", ..BASE },
            Case {
                msg: "User: arn:aws:iam::123456789012:user/x is not authorized to perform: iam:PassRole on resource: role lambda-exec",
                principal: Some("arn:aws:iam::123456789012:user/x"),
                action: Some("iam:PassRole"),
                resource: Some("arn:aws:iam::123456789012:role/lambda-exec"),
                ..BASE
            },
            Case {
                msg: "User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/",
                principal: Some("anonymous"),
                action: Some("execute-api:Invoke"),
                resource: Some("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/"),
                ..BASE
            },
            Case {
                msg: "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                action: Some("sts:AssumeRoleWithWebIdentity"),
                ..BASE
            },
            Case {
                msg: "User: arn:aws:sts::123837392027:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1688990515440126480 is not authorized to perform: organizations:LeaveOrganization on resource: * because no identity-based policy allows the organizations:LeaveOrganization action",
                principal: Some(
                    "arn:aws:sts::123837392027:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1688990515440126480",
                ),
                action: Some("organizations:LeaveOrganization"),
                resource: Some("*"),
                kind: Implicit,
                policy: Some(IdentityBased),
                ..BASE
            },
            // Cut inside the resource: the partial resource is dropped.
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/very-lo...",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("iam:PassRole"),
                truncated: true,
                ..BASE
            },
            // Cut inside the policy ARN.
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: s3:GetObject with an explicit deny in a service control policy: arn:aws:organizations::1:pol...",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                action: Some("s3:GetObject"),
                kind: Explicit,
                policy: Some(ServiceControlPolicy),
                truncated: true,
                ..BASE
            },
            // Cut inside the action.
            Case {
                msg: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:Pass...",
                principal: Some("arn:aws:iam::123456789012:user/u"),
                truncated: true,
                ..BASE
            },
            // SDK suffix after the resource.
            Case {
                msg: "User: arn:aws:iam::1:user/u is not authorized to perform: iam:PassRole on resource: arn:aws:iam::1:role/r (Service: AmazonIdentityManagement; Status Code: 403; Error Code: AccessDenied)",
                principal: Some("arn:aws:iam::1:user/u"),
                action: Some("iam:PassRole"),
                resource: Some("arn:aws:iam::1:role/r"),
                ..BASE
            },
            Case {
                msg: "User: \u{fffd}\u{fffd} is not authorized to perform: \u{fffd}: on resource: \"",
                principal: Some("\u{fffd}\u{fffd}"),
                action: Some("\u{fffd}:"),
                ..BASE
            },
        ]
    }

    #[test]
    fn parse_message_table() {
        for c in cases() {
            let m = parse_message(c.msg);
            assert_eq!(m.principal, c.principal, "principal: {}", c.msg);
            assert_eq!(m.action, c.action, "action: {}", c.msg);
            assert_eq!(m.resource.as_deref(), c.resource, "resource: {}", c.msg);
            assert_eq!(m.reason.kind, c.kind, "kind: {}", c.msg);
            assert_eq!(m.reason.policy_type, c.policy, "policy: {}", c.msg);
            assert_eq!(
                m.reason.policy_arn.as_deref(),
                c.policy_arn,
                "policy arn: {}",
                c.msg
            );
            assert_eq!(m.encoded, c.encoded, "encoded: {}", c.msg);
            assert_eq!(m.truncated, c.truncated, "truncated: {}", c.msg);
        }
    }

    #[test]
    fn parse_message_never_panics_on_prefixes() {
        // Every prefix of every case (at char boundaries) parses.
        for c in cases() {
            for (i, _) in c.msg.char_indices() {
                let _ = parse_message(&c.msg[..i]);
                let _ = classify_text_line(&c.msg.as_bytes()[..i]);
                let _ = classify_text_line(&c.msg.as_bytes()[..i.saturating_sub(1)]);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn text_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = classify_text_line(&bytes);
        }

        #[test]
        fn message_never_panics(s in "(User: |arn:aws:[a-z]{0,3}:|is |not authorized to perform|: |on resource|\"| because no | with an explicit deny in a |service control policy|role |\\.\\.\\.|[ -~]|é){0,40}") {
            let m = parse_message(&s);
            let _ = classify_text_line(s.as_bytes());
            // Borrowed fields point into the message.
            if let Some(a) = m.action {
                proptest::prop_assert!(s.contains(a));
            }
        }
    }

    #[test]
    fn text_lines() {
        struct T {
            line: &'static [u8],
            outcome: &'static str,
            code: Option<&'static str>,
            principal: &'static str,
            action: &'static str,
            time: Option<&'static str>,
        }
        let cases = [
            T {
                line: b"2024-05-01T12:00:00.123Z WARN  [pool-1] software.amazon.codeguruprofilerjavaagent.ProfilingCommand - AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ProfilerRole/i-0abc is not authorized to perform: codeguru-profiler:ConfigureAgent on resource: arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api",
                outcome: "denial",
                code: Some("AccessDeniedException"),
                principal: "arn:aws:iam::123456789012:role/ProfilerRole",
                action: "codeguru-profiler:ConfigureAgent",
                time: Some("2024-05-01T12:00:00.123Z"),
            },
            T {
                line: b"software.amazon.awssdk.services.codeguruprofiler.model.AccessDeniedException: User: arn:aws:iam::123456789012:user/u is not authorized to perform: codeguru-profiler:PostAgentProfile on resource: arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/g (Service: CodeGuruProfiler, Status Code: 403, Request ID: 1)",
                outcome: "denial",
                code: Some("AccessDeniedException"),
                principal: "arn:aws:iam::123456789012:user/u",
                action: "codeguru-profiler:PostAgentProfile",
                time: None,
            },
            T {
                line: b"botocore.exceptions.ClientError: An error occurred (AccessDeniedException) when calling the ConfigureAgent operation: User: arn:aws:iam::123456789012:user/u is not authorized to perform: codeguru-profiler:ConfigureAgent",
                outcome: "denial",
                code: Some("AccessDeniedException"),
                principal: "arn:aws:iam::123456789012:user/u",
                action: "codeguru-profiler:ConfigureAgent",
                time: None,
            },
            T {
                line: b"2024-05-01 12:00:00,5 An error occurred (UnauthorizedOperation) when calling the RunInstances operation: You are not authorized to perform this operation. Encoded authorization failure message: abc",
                outcome: "denial",
                code: Some("UnauthorizedOperation"),
                principal: "unknown",
                action: "unknown",
                time: Some("2024-05-01T12:00:00.5"),
            },
            T {
                line: b"AccessDenied: Access Denied\n\tstatus code: 403, request id: X",
                outcome: "denial",
                code: Some("AccessDenied"),
                principal: "unknown",
                action: "unknown",
                time: None,
            },
            T {
                line: b"operation error STS: GetCallerIdentity, https response error StatusCode: 403, RequestID: x, api error ExpiredToken: The security token included in the request is expired",
                outcome: "auth",
                code: Some("ExpiredToken"),
                principal: "",
                action: "",
                time: None,
            },
            T {
                line: b"InvalidClientTokenId: The security token included in the request is invalid.",
                outcome: "auth",
                code: Some("InvalidClientTokenId"),
                principal: "",
                action: "",
                time: None,
            },
            T {
                line: b"2024-05-01T12:00:00Z INFO profile submitted",
                outcome: "other",
                code: None,
                principal: "",
                action: "",
                time: None,
            },
            T {
                line: b"ThrottlingException: Rate exceeded",
                outcome: "other",
                code: None,
                principal: "",
                action: "",
                time: None,
            },
            T {
                line: b"\xff\xfe User: arn:aws:iam::1:user/\xff is not authorized to perform: s3:GetObject",
                outcome: "denial",
                code: None,
                principal: "arn:aws:iam::1:user/\u{fffd}",
                action: "s3:GetObject",
                time: None,
            },
            T {
                line: b"",
                outcome: "other",
                code: None,
                principal: "",
                action: "",
                time: None,
            },
        ];
        for t in cases {
            let name = String::from_utf8_lossy(t.line);
            if t.outcome != "other" {
                assert!(
                    crate::classify::record::tests::has_marker(t.line),
                    "no prefilter marker: {name}"
                );
            }
            match (t.outcome, classify_text_line(t.line)) {
                ("denial", Outcome::Denial(d)) => {
                    assert_eq!(d.error_code.as_deref(), t.code, "{name}");
                    assert_eq!(d.principal, t.principal, "{name}");
                    assert_eq!(d.action, t.action, "{name}");
                    assert_eq!(d.event_time.as_deref(), t.time, "{name}");
                }
                ("auth", Outcome::AuthFailure(a)) => {
                    assert_eq!(Some(a.error_code.as_str()), t.code, "{name}")
                }
                ("other", Outcome::Other) => {}
                (want, got) => panic!("{name}: want {want}, got {got:?}"),
            }
        }
    }

    #[test]
    fn text_line_fields() {
        let line = b"2024-05-01T12:00:00Z AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ProfilerRole/i-0abc is not authorized to perform: codeguru-profiler:ConfigureAgent on resource: arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api";
        let Outcome::Denial(d) = classify_text_line(line) else {
            panic!("not a denial")
        };
        assert_eq!(
            d.session.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/ProfilerRole/i-0abc")
        );
        assert_eq!(d.principal_kind, crate::classify::PrincipalKind::Role);
        assert_eq!(d.principal_account.as_deref(), Some("123456789012"));
        assert_eq!(
            d.resource.as_deref(),
            Some("arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api")
        );
        assert_eq!(d.region.as_deref(), Some("us-east-1"));
        assert_eq!(d.account.as_deref(), Some("123456789012"));
        assert!(
            d.message.starts_with("User: arn:aws:sts::"),
            "{}",
            d.message
        );
    }
}
