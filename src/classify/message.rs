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
use std::sync::LazyLock;

use memchr::memmem::{Finder, FinderRev};
use serde::Serialize;

use super::CompactString;
use super::principal::{self, Arn};
use super::record::{is_auth_failure_code, is_denial_code};
use super::{AuthFailure, Denial, DenyKind, Outcome, PolicyType, PrincipalKind, Reason};

/// The phrase every enhanced denial message carries (after `is` or `are`).
/// STS's `Not authorized to perform …` is parsed too, but does not by itself
/// make a denial: its records carry a denial error code.
pub const NOT_AUTHORIZED: &str = "not authorized to perform";

/// [`NOT_AUTHORIZED`] without its first letter, to match either case.
const OT_AUTHORIZED: &str = "ot authorized to perform";

/// The marker of EC2's encoded authorization failure messages (the colon
/// after it is optional: the EC2 console writes it without one).
pub const ENCODED_MARKER: &str = "Encoded authorization failure message";

/// The searchers [`parse_message`] runs on every message, built once (a
/// `str::find` builds its searcher on every call).
struct Finders {
    encoded: Finder<'static>,
    ot_authorized: Finder<'static>,
    when_calling: Finder<'static>,
    operation_error: Finder<'static>,
    error_executing: Finder<'static>,
    service: Finder<'static>,
    because_no: Finder<'static>,
    explicit_deny: Finder<'static>,
    user: FinderRev<'static>,
    account_user: FinderRev<'static>,
}

static FIND: LazyLock<Finders> = LazyLock::new(|| Finders {
    encoded: Finder::new(ENCODED_MARKER),
    ot_authorized: Finder::new(OT_AUTHORIZED),
    when_calling: Finder::new("when calling the "),
    operation_error: Finder::new("operation error "),
    error_executing: Finder::new("Error executing \""),
    service: Finder::new("(Service: "),
    because_no: Finder::new("because no "),
    explicit_deny: Finder::new("explicit deny"),
    user: FinderRev::new("User: "),
    account_user: FinderRev::new(ACCOUNT_USER),
});

/// How CloudWatch Logs names a caller it knows only by account.
const ACCOUNT_USER: &str = "User with accountId:";

/// Does `msg` say `Cross-account pass role is not allowed`, in any case?
/// Compared at each `-` only: a message has a few, and a case-insensitive
/// search at every byte cost more than the rest of the parse.
fn says_cross_account_passrole(msg: &str) -> bool {
    const PHRASE: &[u8] = b"cross-account pass role is not allowed";
    const DASH: usize = 5;
    let b = msg.as_bytes();
    memchr::memchr_iter(b'-', b).any(|i| {
        i >= DASH
            && b.get(i + 1).is_some_and(|c| c | 0x20 == b'a')
            && b.get(i - DASH..i - DASH + PHRASE.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(PHRASE))
    })
}

/// Where `f` first occurs in `s` (an ASCII needle: always a char boundary).
fn find(f: &Finder<'_>, s: &str) -> Option<usize> {
    f.find(s.as_bytes())
}

/// What a denial message says. Borrowed from the message where possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedMessage<'a> {
    /// The caller the message names (`User: arn:…`), as written.
    pub principal: Option<&'a str>,
    /// The account the message names when it names no caller (CloudWatch
    /// Logs' `User with accountId: N is not authorized …`).
    pub principal_account: Option<&'a str>,
    /// The denied action (`iam:PassRole`).
    pub action: Option<&'a str>,
    /// An action named without its service (`AssumeRole`, `CreateLogGroup`),
    /// as CodePipeline and CloudWatch Logs write them.
    pub bare_action: Option<&'a str>,
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
    /// The API the SDK called: `when calling the X operation`,
    /// `operation error SERVICE: X,`.
    pub operation: Option<&'a str>,
    /// The service as the SDK names it: `(Service: AmazonECS; …)`,
    /// `operation error Bedrock: …`.
    pub sdk_service: Option<&'a str>,
    /// `Cross-account pass role is not allowed.`: an `iam:PassRole` of a
    /// role in another account, logged under the calling API.
    pub cross_account_passrole: bool,
    /// Step Functions' `… is not authorized to create managed-rule.`: the
    /// role lacks the EventBridge rights for the managed rule.
    pub managed_rule: bool,
    /// CloudWatch Logs' `… CreateLogGroup with Tags`: tagging at creation
    /// needs `logs:TagResource` too.
    pub with_tags: bool,
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
        principal_account: None,
        action: None,
        bare_action: None,
        resource: None,
        reason: Reason::UNKNOWN,
        not_authorized: false,
        encoded: false,
        encoded_message: None,
        truncated,
        operation: None,
        sdk_service: None,
        cross_account_passrole: false,
        managed_rule: false,
        with_tags: false,
    };

    if let Some(i) = find(&FIND.encoded, msg) {
        out.encoded = true;
        let rest = &msg[i + ENCODED_MARKER.len()..];
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        let blob = first_token(rest);
        out.encoded_message = (!blob.is_empty()).then_some(blob);
    }
    (out.operation, out.sdk_service) = operation_and_service(msg);
    out.cross_account_passrole = says_cross_account_passrole(msg);

    // The part of the message the reason is searched in.
    let mut tail = msg;
    // EC2 prefixes the real sentence with "You are not authorized to perform
    // this operation. User: … is not authorized to perform: iam:PassRole …":
    // use the first occurrence that names an action, else the first one.
    let at = FIND
        .ot_authorized
        .find_iter(msg.as_bytes())
        .find(|&p| names_action(&msg[p + OT_AUTHORIZED.len()..]))
        .or_else(|| find(&FIND.ot_authorized, msg));
    if let Some(p) = at {
        let before = &msg[..p];
        out.not_authorized = before.ends_with('n');
        let before = before.strip_suffix(['n', 'N']).unwrap_or(before);
        out.principal = principal_before(before);
        if out.principal.is_none() {
            out.principal_account = account_before(before);
        }
        let after = &msg[p + OT_AUTHORIZED.len()..];
        tail = after;
        // `perform: iam:PassRole`, or STS's `perform sts:AssumeRoleWithWebIdentity`.
        let a = after.strip_prefix(':').or_else(|| after.strip_prefix(' '));
        if let Some(a) = a {
            let a = a.trim_start();
            let tok = first_token(a);
            let action = clean_token(tok);
            let cut = truncated && is_last_token(a, tok);
            let mut rest = a.get(tok.len()..).unwrap_or("");
            if is_action(action) && !cut {
                out.action = Some(action);
            } else if is_bare_action(action) && !cut {
                out.bare_action = Some(action);
                if let Some(r) = rest.strip_prefix(" with Tags") {
                    out.with_tags = true;
                    rest = r;
                }
            }
            if out.action.is_some() || out.bare_action.is_some() {
                let (resource, rest) = resource_after(rest, truncated);
                tail = rest;
                out.resource = resource.map(|r| legacy_to_arn(r, out.principal));
            }
        }
    } else if let Some(p) = msg.find("ot authorized to create managed-rule") {
        // Step Functions: `'arn:…:role/R' is not authorized to create managed-rule.`
        let before = &msg[..p];
        out.not_authorized = before.ends_with('n');
        out.managed_rule = true;
        out.principal = principal_before(before.strip_suffix(['n', 'N']).unwrap_or(before));
    }
    if out.action.is_none() {
        // CloudFormation stack events: `API: ec2:CreateVpc You are not
        // authorized to perform this operation.`
        if let Some(i) = msg.find("API: ") {
            let tok = clean_token(first_token(&msg[i + "API: ".len()..]));
            if is_action(tok) {
                out.action = Some(tok);
            }
        }
    }
    out.reason = parse_reason(tail, truncated);
    out
}

/// `iam:PassRole`: a service prefix and an action name, nothing else.
fn is_action(tok: &str) -> bool {
    match tok.split_once(':') {
        Some((s, a)) => {
            !s.is_empty()
                && !a.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'-')
        }
        None => false,
    }
}

/// `AssumeRole`: a CamelCase API name with no service.
fn is_bare_action(tok: &str) -> bool {
    tok.len() > 2
        && tok.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && tok.bytes().all(|b| b.is_ascii_alphanumeric())
        && tok.bytes().skip(1).any(|b| b.is_ascii_lowercase())
}

/// ASCII-case-insensitive substring test.
/// The SDK's operation and service names in a message: botocore's `when
/// calling the X operation`, Go SDK v2's `operation error SERVICE: X,`,
/// PHP's `Error executing "X"`, Java v1's `(Service: X; …)` and v2's
/// `(Service: X, …)`.
fn operation_and_service(msg: &str) -> (Option<&str>, Option<&str>) {
    fn word(s: &str) -> Option<&str> {
        let t = s
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .next()
            .unwrap_or("");
        (!t.is_empty()).then_some(t)
    }
    let mut op = None;
    let mut service = None;
    if let Some(i) = find(&FIND.when_calling, msg) {
        let rest = &msg[i + "when calling the ".len()..];
        if let Some(o) = word(rest).filter(|o| rest[o.len()..].starts_with(" operation")) {
            op = Some(o);
        }
    }
    if let Some(i) = find(&FIND.operation_error, msg) {
        let rest = &msg[i + "operation error ".len()..];
        if let Some((svc, after)) = rest.split_once(": ")
            && !svc.is_empty()
            && svc.len() <= 64
            && !svc.contains(',')
        {
            service = Some(svc.trim());
            op = op.or_else(|| word(after));
        }
    }
    if op.is_none()
        && let Some(i) = find(&FIND.error_executing, msg)
    {
        op = word(&msg[i + "Error executing \"".len()..]);
    }
    if service.is_none()
        && let Some(i) = find(&FIND.service, msg)
    {
        let rest = &msg[i + "(Service: ".len()..];
        let s = rest.split([';', ',', ')']).next().unwrap_or("").trim();
        if !s.is_empty() && s.len() <= 64 {
            service = Some(s);
        }
    }
    (op, service)
}

/// Does the text after "…ot authorized to perform" name an action
/// (`: iam:PassRole`, STS's ` sts:AssumeRoleWithWebIdentity`, CodePipeline's
/// ` AssumeRole`)?
fn names_action(after: &str) -> bool {
    after
        .strip_prefix(':')
        .or_else(|| after.strip_prefix(' '))
        .map(|a| clean_token(first_token(a.trim_start())))
        .is_some_and(|t| is_action(t) || is_bare_action(t))
}

/// The principal named before "is not authorized": the token after the last
/// `User: `, else an ARN right before the phrase (quoted or not).
fn principal_before(before: &str) -> Option<&str> {
    let before = before.trim_end();
    let before = before
        .strip_suffix(" is")
        .or_else(|| before.strip_suffix(" are"))
        .unwrap_or(before)
        .trim_end();
    if let Some(i) = FIND.user.rfind(before.as_bytes()) {
        let cand = clean_token(first_token(before[i + "User: ".len()..].trim_start()));
        return (!cand.is_empty()).then_some(cand);
    }
    let last = before.rsplit(char::is_whitespace).next().unwrap_or("");
    let last = clean_token(last);
    last.starts_with("arn:").then_some(last)
}

/// CloudWatch Logs names only the account: `User with accountId: N is not
/// authorized …`.
fn account_before(before: &str) -> Option<&str> {
    let i = FIND.account_user.rfind(before.as_bytes())?;
    let tok = clean_token(first_token(&before[i + ACCOUNT_USER.len()..]));
    (!tok.is_empty()).then_some(tok)
}

/// The resource after an action: `on resource: X`, `on resource: "X"`,
/// `on resource: role NAME`, CodePipeline's `on role ARN`. Returns it and
/// the rest of the message.
///
/// An ARN is one token, cut where an SDK's JSON or punctuation starts
/// (`…role/x","code":…`, `…role/x: ClientError`); a bare name may hold
/// spaces and runs to the reason (` because no `, ` with an explicit deny`),
/// the SDK's suffix (` (Service: `) or the end.
fn resource_after(rest: &str, truncated: bool) -> (Option<&str>, &str) {
    let r = rest.trim_start();
    let r = match r.strip_prefix("on resource") {
        Some(x) => x.strip_prefix(':').unwrap_or(x).trim_start(),
        None => match r.strip_prefix("on role ") {
            Some(x) => x.trim_start(),
            None => return (None, rest),
        },
    };
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
        let name = clean_token(first_token(a));
        if !name.is_empty() && name != "because" && name != "with" {
            let start = tok.len() + (after.len() - a.len());
            let end = start + name.len();
            let cut = truncated && is_last_token(a, name);
            let res = r.get(..end).filter(|_| !cut);
            return (res, r.get(end..).unwrap_or(""));
        }
    }
    let res = clean_token(tok);
    if res.starts_with("arn:") || res == "*" {
        if res.is_empty() || (truncated && is_last_token(r, tok)) {
            return (None, after);
        }
        return (Some(res), after);
    }
    // A bare name, perhaps with spaces.
    let end = [
        " because ",
        " with an explicit deny",
        " (Service",
        " status code",
        ". ",
        ": ",
        "\"",
    ]
    .iter()
    .filter_map(|t| r.find(t))
    .min()
    .unwrap_or(r.len());
    let name = clean_token(r[..end].trim_end());
    let words = name.split(' ').count();
    let (name, rest) = if words > 8 || name.is_empty() {
        (res, after)
    } else {
        (name, &r[end..])
    };
    if name.is_empty() || (truncated && rest.trim().is_empty()) {
        return (None, rest);
    }
    (Some(name), rest)
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
    if let Some(i) = find(&FIND.because_no, tail) {
        let rest = &tail[i + "because no ".len()..];
        return Reason {
            kind: DenyKind::Implicit,
            policy_type: policy_type_at(rest).map(|(p, _)| p),
            policy_arn: None,
        };
    }
    if let Some(i) = find(&FIND.explicit_deny, tail) {
        let rest = tail[i + "explicit deny".len()..].trim_start();
        let rest = ["in an ", "in a ", "in the ", "in "]
            .iter()
            .find_map(|p| rest.strip_prefix(p));
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
                let arn = clean_token(tok);
                if arn.starts_with("arn:") && !(truncated && is_last_token(a, tok)) {
                    reason.policy_arn = Some(arn.to_string());
                }
            }
        }
        return reason;
    }
    Reason::UNKNOWN
}

/// Other words AWS uses for a policy type: a role's trust policy is the
/// resource-based policy of the role.
const POLICY_ALIASES: &[(&str, PolicyType)] = &[
    ("role trust policy", PolicyType::ResourceBased),
    ("trust policy", PolicyType::ResourceBased),
];

/// The policy type whose phrase starts `s` (ASCII case-insensitive), and the
/// text after it. "X transitively through a service control policy" names
/// the SCP: AWS says to check the SCPs, not X.
fn policy_type_at(s: &str) -> Option<(PolicyType, &str)> {
    let s = s.strip_prefix("the ").unwrap_or(s);
    let direct = |s: &str| -> Option<(PolicyType, usize)> {
        PolicyType::ALL
            .into_iter()
            .map(|p| (p.phrase(), p))
            .chain(POLICY_ALIASES.iter().map(|(w, p)| (*w, *p)))
            .find_map(|(phrase, p)| {
                let head = s.get(..phrase.len())?;
                head.eq_ignore_ascii_case(phrase)
                    .then_some((p, phrase.len()))
            })
    };
    let (p, len) = direct(s)?;
    let after = &s[len..];
    if let Some(t) = after.trim_start().strip_prefix("transitively through ") {
        let t = ["an ", "a ", "the "]
            .iter()
            .find_map(|a| t.strip_prefix(a))
            .unwrap_or(t);
        if let Some((q, qlen)) = direct(t) {
            return Some((q, &t[qlen..]));
        }
    }
    Some((p, after))
}

/// The text up to the first whitespace.
fn first_token(s: &str) -> &str {
    let s = s.trim_start();
    // Bytes first: ASCII whitespace is the common end, and any other byte
    // below 0x80 is not whitespace; a non-ASCII char is decoded and asked.
    // Eight bytes at a time past those that can be neither (0x21..=0x7f).
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        const LO: u64 = u64::from_ne_bytes([0x01; 8]);
        const HI: u64 = u64::from_ne_bytes([0x80; 8]);
        // A byte <= 0x20, or >= 0x80: the high bit of (b - 0x21) or of b.
        if (w.wrapping_sub(LO * 0x21) | w) & HI != 0 {
            break;
        }
        i += 8;
    }
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
                return &s[..i];
            }
            i += 1;
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            if ch.is_whitespace() {
                return &s[..i];
            }
            i += ch.len_utf8();
        }
    }
    s
}

/// A token without what an SDK or a sentence wraps around it: cut at the
/// first `"` or `\` (JSON after the value), then punctuation trimmed
/// (`.`, `,`, `;`, `:`, brackets, quotes).
fn clean_token(tok: &str) -> &str {
    // All ASCII: byte positions are char boundaries.
    let b = tok.as_bytes();
    let start = b
        .iter()
        .position(|c| !matches!(c, b'"' | b'\'' | b'(' | b'[' | b'<' | b'`'))
        .unwrap_or(b.len());
    let end = b[start..]
        .iter()
        .position(|c| matches!(c, b'"' | b'\\' | b'`'))
        .map_or(b.len(), |e| start + e);
    let kept = b[start..end]
        .iter()
        .rposition(|c| !matches!(c, b'.' | b',' | b';' | b')' | b'\'' | b']' | b'>' | b':'))
        .map_or(start, |e| start + e + 1);
    &tok[start..kept]
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
    let raw = String::from_utf8_lossy(bytes);
    let raw = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if raw.is_empty() {
        return Outcome::Other;
    }
    // Text wrapped by a terminal or an issue tracker reads the same.
    let line = collapse_whitespace(raw);
    let line = line.as_ref();
    let code = error_code_in_line(line);
    let parsed = parse_message(line);
    // "is not authorized to perform" only counts when it names an action:
    // prose about denials ("a runbook for when a call is not authorized to
    // perform an action") is not one.
    let denied = (parsed.not_authorized
        && (parsed.action.is_some()
            || parsed.bare_action.is_some()
            || parsed.encoded
            || parsed.managed_rule))
        || code.is_some_and(|(c, _)| is_denial_code(c));
    if !denied {
        let code = code
            .map(|(c, _)| c)
            .filter(|c| is_auth_failure_code(c))
            .or_else(|| auth_failure_sentence(line));
        return match code {
            Some(c) => Outcome::AuthFailure(AuthFailure {
                error_code: c.to_string(),
                event_id: None,
                event_time: leading_timestamp(line).map(Into::into),
            }),
            None => Outcome::Other,
        };
    }
    let p = if parsed.principal.is_none() {
        match parsed.principal_account {
            Some(acct) => principal::Principal {
                principal: "unknown".to_string(),
                kind: PrincipalKind::Other,
                account: Some(acct.to_string()),
                session: None,
            },
            None => principal::resolve(&principal::Identity::default(), None),
        }
    } else {
        principal::resolve(&principal::Identity::default(), parsed.principal)
    };
    let (action, via) = text_action(&parsed, line);
    let res_arn = parsed.resource.as_deref().and_then(Arn::parse);
    let account = res_arn
        .map(|a| a.account)
        .filter(|a| !a.is_empty())
        .map(CompactString::from)
        .or_else(|| p.account.as_deref().map(CompactString::from));
    let region = res_arn
        .map(|a| a.region)
        .filter(|r| !r.is_empty())
        .map(CompactString::from);
    let message = code
        .map(|(_, end)| line.get(end..).unwrap_or("").trim_start())
        .filter(|m| !m.is_empty())
        .unwrap_or(line);
    Outcome::Denial(Box::new(Denial {
        principal: p.principal,
        principal_kind: p.kind,
        principal_account: p.account.map(Into::into),
        session: p.session,
        action,
        via,
        passes: None,
        resource: parsed.resource.map(Cow::into_owned),
        reason: parsed.reason,
        account,
        region,
        event_time: leading_timestamp(line).map(Into::into),
        event_id: None,
        shared_event_id: None,
        vpc_endpoint_id: None,
        error_code: code.map(|(c, _)| c.into()),
        event_source: None,
        encoded: parsed.encoded,
        truncated: parsed.truncated,
        message: message.to_string(),
    }))
}

/// The sentence AWS answers bad credentials with, for agents that log it
/// without its error code: the code it stands for.
pub const SECURITY_TOKEN: &str = "security token included in the request is";

fn auth_failure_sentence(line: &str) -> Option<&'static str> {
    let i = line.find(SECURITY_TOKEN)?;
    let rest = line[i + SECURITY_TOKEN.len()..].trim_start();
    if rest.starts_with("invalid") {
        Some("InvalidClientTokenId")
    } else if rest.starts_with("expired") {
        Some("ExpiredToken")
    } else {
        None
    }
}

/// Runs of whitespace (line breaks of wrapped text included) as one space.
fn collapse_whitespace(s: &str) -> Cow<'_, str> {
    let mut prev_ws = false;
    let clean = s.chars().all(|c| {
        let bad = c.is_whitespace() && (c != ' ' || prev_ws);
        prev_ws = c.is_whitespace();
        !bad
    });
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// The denied action of a text line and the API it was denied under.
///
/// In order: the action the message names; an action named without its
/// service (`AssumeRole` is STS's; others take the SDK's service); Step
/// Functions' managed rule (`events:PutRule`); a cross-account PassRole;
/// else the API the SDK called (`when calling the ListObjectsV2
/// operation` → `s3:ListBucket`), its service from the SDK's name for it or,
/// when only one service has that API, the data.
fn text_action(m: &ParsedMessage<'_>, line: &str) -> (CompactString, Option<CompactString>) {
    let s3_wording = line.contains("Access Denied");
    let service = m
        .sdk_service
        .and_then(super::actions::prefix_for_sdk_service)
        .or_else(|| {
            m.operation
                .and_then(|op| super::actions::service_of_operation(op, s3_wording.then_some("s3")))
        });
    let api = match (service, m.operation) {
        (Some(s), Some(op)) => Some(super::actions::api_action(s, op)),
        _ => None,
    };
    let action = if let Some(a) = m.action {
        Some(super::actions::normalize(a))
    } else if let Some(b) = m.bare_action {
        if b.starts_with("AssumeRole") {
            Some(super::actions::api_action("sts", b))
        } else if m.with_tags && service.is_none_or(|s| s == "logs") {
            // CloudWatch Logs: creating a tagged log group needs
            // logs:TagResource too, and that is what was denied.
            Some("logs:TagResource".into())
        } else {
            service.map(|s| super::actions::api_action(s, b))
        }
    } else if m.managed_rule {
        Some("events:PutRule".into())
    } else if m.cross_account_passrole {
        Some("iam:PassRole".into())
    } else {
        None
    };
    // The API the SDK called, when it is not the denied action.
    let via_api = if m.with_tags && service.is_none_or(|s| s == "logs") {
        Some("logs:CreateLogGroup".into())
    } else {
        api.clone()
    };
    match action {
        Some(a) => {
            let via = match via_api {
                Some(v) if !super::actions::same_action(&v, &a) => Some(v),
                Some(_) => None,
                // Only the service is known: its endpoint host.
                None => service
                    .filter(|s| !a.starts_with(&format!("{s}:")))
                    .map(|s| compact_str::format_compact!("{s}.amazonaws.com")),
            };
            (a, via)
        }
        None => match api {
            Some(a) => (a, None),
            None => ("unknown".into(), None),
        },
    }
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
    let mut toks = line[..msg_start].split(' ').peekable();
    while let Some(tok) = toks.next() {
        let end = pos + tok.len();
        pos = end + 1;
        // `Name:`, or Ruby Fog's `Name => message`.
        let (name, end) = match tok.strip_suffix(':') {
            Some(n) => (n, end),
            None if toks.peek() == Some(&"=>") => (tok, end + " =>".len()),
            None => continue,
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
    // botocore's `An error occurred (X) when calling …`, and its old
    // `A client error (X) occurred when calling …`.
    for lead in ["An error occurred (", "A client error ("] {
        let Some(i) = line.find(lead) else {
            continue;
        };
        let rest = &line[i + lead.len()..];
        if let Some(j) = rest.find(')') {
            let c = &rest[..j];
            // S3's HEAD requests have no body, so botocore names only the
            // status: `An error occurred (403) … HeadObject operation: Forbidden`.
            let c = if c == "403" { "Forbidden" } else { c };
            if is_code_like(c) {
                let start = rest[j..]
                    .find("operation: ")
                    .map_or(i, |k| i + lead.len() + j + k + "operation:".len());
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

    #[test]
    fn token_helpers_agree_with_their_char_forms() {
        fn first_chars(s: &str) -> &str {
            s.trim_start()
                .split(char::is_whitespace)
                .next()
                .unwrap_or("")
        }
        fn clean_chars(tok: &str) -> &str {
            let tok = tok.trim_start_matches(['"', '\'', '(', '[', '<', '`']);
            let tok = tok.split(['"', '\\', '`']).next().unwrap_or("");
            tok.trim_end_matches(['.', ',', ';', ')', '\'', ']', '>', ':'])
        }
        let pieces = [
            "",
            " ",
            "\t",
            "\u{a0}",
            "\u{2003}",
            "\u{b}",
            "arn:aws:iam::1:role/x",
            "\"",
            "'",
            "(",
            "[",
            "<",
            "`",
            "\\",
            ".",
            ",",
            ";",
            ")",
            "]",
            ">",
            ":",
            "ü",
            "日本",
            "x",
        ];
        // Every string of up to four pieces.
        let mut n = 0;
        let k = pieces.len();
        for a in 0..k {
            for b in 0..k {
                for c in 0..k {
                    for d in [0, 3, 6, 12, 21] {
                        let s = [pieces[a], pieces[b], pieces[c], pieces[d]].concat();
                        assert_eq!(first_token(&s), first_chars(&s), "{s:?}");
                        assert_eq!(clean_token(&s), clean_chars(&s), "{s:?}");
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 50_000, "{n}");
    }

    #[test]
    fn cross_account_passrole_in_any_case_and_place() {
        for m in [
            "Cross-account pass role is not allowed.",
            "cross-account pass role is not allowed",
            "CROSS-ACCOUNT PASS ROLE IS NOT ALLOWED.",
            "An error occurred (AccessDenied) when calling the Run-Job operation: Cross-account pass role is not allowed.",
        ] {
            assert!(says_cross_account_passrole(m), "{m}");
        }
        for m in [
            "",
            "-",
            "Cross-account pass role is allowed.",
            "Cross-account pass role is not allo",
            "cross account pass role is not allowed",
            "x-account pass role is not allowed ünïcode-",
        ] {
            assert!(!says_cross_account_passrole(m), "{m}");
        }
    }
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
                action: None,
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
                action: "ec2:RunInstances",
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
