//! IAM policy documents for the hints: least-privilege `Allow` statements,
//! the resource side of cross-account access, and the resources they name.
//!
//! Pure: builds `serde_json::Value`s from strings. `"Resource": "*"` appears
//! only for actions that take no resource ([`super::is_resourceless`]) and
//! for an SNS publish to a phone number; every other resource is an ARN that
//! fits one of the action's ARN formats in the IAM data.

use serde_json::{Map, Value, json};

use super::arn::{self, Arn, Fill, is_account_id};
use crate::classify::iam;

/// The IAM policy language version every document carries.
pub const POLICY_VERSION: &str = "2012-10-17";

/// One IAM `Allow` statement for `action` on `resources`.
///
/// An empty `resources` means the action takes no resource: `"Resource": "*"`.
/// One resource is written as a string, several as an array. `condition` is
/// the statement's `Condition` block, if any.
///
/// ```
/// use denytrail::hints::allow_statement;
/// let s = allow_statement(
///     "codeguru-profiler:DescribeProfilingGroup",
///     &["arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/app".to_string()],
///     None,
/// );
/// assert_eq!(s["Effect"], "Allow");
/// assert_eq!(s["Resource"], "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/app");
/// assert_eq!(allow_statement("iam:ListRoles", &[], None)["Resource"], "*");
/// ```
pub fn allow_statement(action: &str, resources: &[String], condition: Option<Value>) -> Value {
    let mut s = Map::new();
    s.insert("Sid".into(), Value::String(sid(action)));
    s.insert("Effect".into(), "Allow".into());
    s.insert("Action".into(), action.into());
    s.insert("Resource".into(), one_or_many(resources, "*"));
    if let Some(c) = condition {
        s.insert("Condition".into(), c);
    }
    Value::Object(s)
}

/// A policy document: `{"Version": "2012-10-17", "Statement": [...]}`.
///
/// ```
/// use denytrail::hints::{allow_statement, policy_document};
/// let doc = policy_document(vec![allow_statement("sts:GetCallerIdentity", &[], None)]);
/// assert_eq!(doc["Version"], "2012-10-17");
/// assert_eq!(doc["Statement"][0]["Action"], "sts:GetCallerIdentity");
/// ```
pub fn policy_document(statements: Vec<Value>) -> Value {
    json!({ "Version": POLICY_VERSION, "Statement": statements })
}

/// A statement for a resource-based or trust policy: `principal` may perform
/// `actions` (on `resources`, none for a trust policy).
pub(crate) fn grant_statement(principal: Value, actions: &[&str], resources: &[String]) -> Value {
    let mut s = Map::new();
    s.insert("Effect".into(), "Allow".into());
    s.insert("Principal".into(), principal);
    let actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    s.insert("Action".into(), one_or_many(&actions, ""));
    if !resources.is_empty() {
        s.insert("Resource".into(), one_or_many(resources, "*"));
    }
    Value::Object(s)
}

/// The `Principal` element naming the caller in a resource-side policy.
pub(crate) fn principal_element(principal: &str, partition: &str) -> Value {
    if Arn::parse(principal).is_some() {
        json!({ "AWS": principal })
    } else if let Some(id) = principal.strip_prefix("account:") {
        json!({ "AWS": format!("arn:{partition}:iam::{id}:root") })
    } else if let Some(service) = principal.strip_prefix("service:") {
        json!({ "Service": service })
    } else {
        json!({ "AWS": "<CALLER_ARN>" })
    }
}

fn one_or_many(items: &[String], empty: &str) -> Value {
    match items {
        [] => Value::String(empty.to_string()),
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}

/// `AllowCodeguruProfilerPostAgentProfile`: statement ids are alphanumeric.
fn sid(action: &str) -> String {
    let mut out = String::from("Allow");
    for word in action.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// The resources an allow statement names, worked out from a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The IAM data knows the action.
    pub known: bool,
    /// ARNs to allow on, sorted, distinct; empty when the action takes none.
    pub arns: Vec<String>,
    /// The action takes no resource (`"Resource": "*"`).
    pub resourceless: bool,
    /// Some ARN still holds a `<PLACEHOLDER>` or an unknown `*`.
    pub placeholder: bool,
    /// The events named no resource at all.
    pub unnamed: bool,
    /// Names from messages turned into ARNs: `(name, arn)`.
    pub built: Vec<(String, String)>,
    /// Resources from the events that cannot be the action's: `(resource,
    /// the ARN formats the action takes)`.
    pub rejected: Vec<(String, String)>,
    /// ARNs whose account was masked or cut in the message, as written.
    pub masked: Vec<String>,
    /// An SNS publish to a phone number (`"Resource": "*"`).
    pub phone: bool,
    /// Other resource types the action requires, granted with `*` names.
    pub also_required: Vec<String>,
}

/// A phone number as SNS names it in a denial: `+` then digits (or the
/// `x`/`X` its author masked them with).
fn is_phone_number(r: &str) -> bool {
    r.strip_prefix('+').is_some_and(|d| {
        !d.is_empty()
            && d.bytes()
                .all(|b| b.is_ascii_digit() || b == b'x' || b == b'X' || b == b'.' || b == b'*')
    })
}

/// IAM names: letters, digits and `+=,.@_-`, with `/` for paths. A role
/// "ARN" whose name holds anything else (`role/r:ClientError`) cannot exist.
fn plausible_iam_name(arn: &Arn<'_>) -> bool {
    if arn.service != "iam" {
        return true;
    }
    let name = arn.resource.split_once('/').map_or("", |(_, n)| n);
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/*".contains(&b))
}

/// The ARN with a masked or cut account (`***`, `xxxx`, 10 or 11 digits)
/// replaced by `account` (or `*`); `None` when the account is fine.
fn unmask(arn: &Arn<'_>, fill: &Fill) -> Option<String> {
    let a = arn.account;
    if a.is_empty() || is_account_id(a) || a == "*" || a == "aws" {
        return None;
    }
    Some(with_parts(
        arn,
        arn.region,
        fill.account.as_deref().unwrap_or("*"),
    ))
}

fn with_parts(arn: &Arn<'_>, region: &str, account: &str) -> String {
    format!(
        "arn:{}:{}:{}:{}:{}",
        arn.partition, arn.service, region, account, arn.resource
    )
}

/// An ARN that left out the region or account its format has
/// (`arn:aws:sns:::topic`, as some messages print them) with the known
/// ones, or `*`.
fn fill_blanks(format: &str, arn: &str, fill: &Fill) -> Option<String> {
    let p = Arn::parse(arn)?;
    let wants_region = format.contains(":${Region}:");
    let wants_account = format.contains(":${Account}:");
    let region =
        (wants_region && p.region.is_empty()).then(|| fill.region.as_deref().unwrap_or("*"));
    let account =
        (wants_account && p.account.is_empty()).then(|| fill.account.as_deref().unwrap_or("*"));
    if region.is_none() && account.is_none() {
        return None;
    }
    Some(with_parts(
        &p,
        region.unwrap_or(p.region),
        account.unwrap_or(p.account),
    ))
}

/// Work out the ARNs `action` must be allowed on from the group's resource
/// keys, with the IAM data: ARNs that fit one of the action's ARN formats as
/// they are, bare names through the format of the resource type the action
/// needs, a placeholder ARN when the events named nothing, and `*` names
/// for the other resource types the action requires.
pub(crate) fn resolve<'r>(
    action: &str,
    resources: impl IntoIterator<Item = &'r str>,
    fill: &Fill,
    related: Option<&str>,
) -> Resolved {
    let Some(a) = iam::action(action) else {
        return Resolved::default();
    };
    let mut out = Resolved {
        known: true,
        ..Resolved::default()
    };
    if a.takes_no_resource() {
        out.resourceless = true;
        return out;
    }
    let all: Vec<&iam::ResourceType> = a.resource_types().map(|(t, _)| t).collect();
    let required: Vec<&iam::ResourceType> = a
        .resource_types()
        .filter(|(_, r)| *r)
        .map(|(t, _)| t)
        .collect();
    // With no required type, any one of them will do: the one the called
    // API (`related`) also takes, else the last listed (the plain resource:
    // `object` after `accesspointobject`, the default event bus's rule).
    let needed: Vec<&iam::ResourceType> = if required.is_empty() {
        let shared = related.and_then(iam::action).and_then(|r| {
            let theirs: Vec<&str> = r.resource_types().map(|(t, _)| t.arn).collect();
            all.iter().find(|t| theirs.contains(&t.arn)).copied()
        });
        // Else the type the action's name names (`GetObject` → object,
        // `ListBucket` → bucket), the longest such; else the last listed.
        let name = a.name().to_ascii_lowercase();
        let named = all
            .iter()
            .filter(|t| {
                let k: String = t
                    .name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                !k.is_empty() && name.contains(&k)
            })
            .max_by_key(|t| t.name.len())
            .copied();
        shared
            .or(named)
            .or_else(|| all.last().copied())
            .into_iter()
            .collect()
    } else {
        required
    };
    let sns_publish = action.eq_ignore_ascii_case("sns:Publish");
    let mut covered: Vec<&str> = Vec::new();
    for r in resources {
        let r = r.trim();
        if r.is_empty() || r == "*" {
            continue;
        }
        if sns_publish && is_phone_number(r) {
            out.phone = true;
            continue;
        }
        // `aws:iam::…` is an ARN that lost its `arn:`.
        let with_arn;
        let r = if ["aws:", "aws-cn:", "aws-us-gov:"]
            .iter()
            .any(|p| r.starts_with(p))
        {
            with_arn = format!("arn:{r}");
            with_arn.as_str()
        } else {
            r
        };
        if let Some(parsed) = Arn::parse(r) {
            let unmasked = unmask(&parsed, fill);
            if unmasked.is_some() {
                out.masked.push(r.to_string());
            }
            let arn = unmasked.unwrap_or_else(|| r.to_string());
            let fits = all
                .iter()
                .find(|t| iam::arn_fits(t.arn, &arn))
                .filter(|_| Arn::parse(&arn).is_some_and(|p| plausible_iam_name(&p)));
            match fits {
                Some(t) => {
                    covered.push(t.name);
                    let arn = match fill_blanks(t.arn, &arn, fill) {
                        Some(filled) => {
                            if !out.masked.iter().any(|m| m == r) {
                                out.masked.push(r.to_string());
                            }
                            filled
                        }
                        None => arn,
                    };
                    out.arns.push(arn);
                }
                None => out.rejected.push((
                    r.to_string(),
                    all.iter().map(|t| t.arn).collect::<Vec<_>>().join(" or "),
                )),
            }
        } else if let Some(t) = needed.first() {
            let b = arn::build(t.arn, fill, Some(r));
            let plausible = !r.contains(':')
                && iam::arn_fits(t.arn, &b.arn)
                && Arn::parse(&b.arn).is_some_and(|p| plausible_iam_name(&p));
            if !plausible {
                out.rejected.push((r.to_string(), t.arn.to_string()));
                continue;
            }
            out.placeholder |= b.placeholder;
            covered.push(t.name);
            out.built.push((r.to_string(), b.arn.clone()));
            out.arns.push(b.arn);
        }
    }
    if out.phone && out.arns.is_empty() {
        // SMS to a phone number is authorized on "*" alone.
        out.resourceless = true;
        return out;
    }
    let several = needed.len() > 1;
    if out.arns.is_empty() {
        out.unnamed = out.rejected.is_empty();
        out.placeholder = true;
        if let Some(t) = needed.first() {
            let b = arn::build(t.arn, fill, several.then_some("*"));
            covered.push(t.name);
            out.arns.push(b.arn);
        }
    }
    // The other required types only when the events named nothing: a named
    // resource says which one the call was about (`bedrock:InvokeModel`
    // lists several required types, any one of which applies).
    if several && out.unnamed {
        for t in &needed {
            let fitted = out.arns.iter().any(|a| iam::arn_fits(t.arn, a));
            if !covered.contains(&t.name) && !fitted {
                let b = arn::build(t.arn, fill, Some("*"));
                out.placeholder |= b.placeholder;
                out.also_required.push(t.name.to_string());
                out.arns.push(b.arn);
            }
        }
    }
    out.arns.sort();
    out.arns.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(region: Option<&str>, account: Option<&str>) -> Fill {
        Fill {
            partition: "aws".into(),
            region: region.map(str::to_string),
            account: account.map(str::to_string),
        }
    }

    #[test]
    fn statement_shape() {
        let s = allow_statement(
            "codeguru-profiler:PostAgentProfile",
            &["a".to_string(), "b".to_string()],
            Some(json!({"StringEquals": {"k": "v"}})),
        );
        assert_eq!(s["Sid"], "AllowCodeguruProfilerPostAgentProfile");
        assert_eq!(s["Resource"], json!(["a", "b"]));
        assert_eq!(s["Condition"]["StringEquals"]["k"], "v");
    }

    #[test]
    fn principals() {
        let p = |s| principal_element(s, "aws");
        assert_eq!(
            p("arn:aws:iam::1:role/r"),
            json!({"AWS": "arn:aws:iam::1:role/r"})
        );
        assert_eq!(p("account:1"), json!({"AWS": "arn:aws:iam::1:root"}));
        assert_eq!(
            p("service:x.amazonaws.com"),
            json!({"Service": "x.amazonaws.com"})
        );
        assert_eq!(p("unknown"), json!({"AWS": "<CALLER_ARN>"}));
    }

    #[test]
    fn resolve_cases() {
        let f = fill(Some("eu-west-1"), Some("111122223333"));
        let r = resolve("iam:ListRoles", ["x"], &f, None);
        assert!(r.resourceless && r.arns.is_empty());

        let r = resolve(
            "codeguru-profiler:PostAgentProfile",
            ["my-example-profiling-group", "*", ""],
            &f,
            None,
        );
        assert_eq!(
            r.arns,
            [
                "arn:aws:codeguru-profiler:eu-west-1:111122223333:profilingGroup/my-example-profiling-group"
            ]
        );
        assert!(!r.placeholder && !r.unnamed && r.built.len() == 1);

        let r = resolve("codeguru-profiler:GetProfile", [], &fill(None, None), None);
        assert_eq!(
            r.arns,
            ["arn:aws:codeguru-profiler:*:*:profilingGroup/<PROFILING_GROUP_NAME>"]
        );
        assert!(r.placeholder && r.unnamed);

        // Several required resource types: each one, `*` names.
        let r = resolve("ec2:RunInstances", [], &f, None);
        assert!(r.arns.len() > 3, "{:?}", r.arns);
        assert!(
            r.arns
                .contains(&"arn:aws:ec2:eu-west-1:111122223333:subnet/*".to_string())
        );
        assert!(r.arns.iter().all(|a| !a.contains('<')), "{:?}", r.arns);

        let r = resolve("ssm:GetParameter", ["/app/db"], &f, None);
        assert_eq!(
            r.arns,
            ["arn:aws:ssm:eu-west-1:111122223333:parameter/app/db"]
        );

        let r = resolve(
            "s3:GetObject",
            ["arn:aws:s3:::b/k", "arn:aws:s3:::b/k"],
            &f,
            None,
        );
        assert_eq!(r.arns, ["arn:aws:s3:::b/k"]);

        // A phone number: "*".
        let r = resolve("sns:Publish", ["+1xxxxxxxxx"], &f, None);
        assert!(r.resourceless && r.phone);

        // A role name with `:` cannot exist: rejected, placeholder instead.
        let r = resolve(
            "iam:PassRole",
            ["arn:aws:iam::111122223333:role/a:b"],
            &f,
            None,
        );
        assert_eq!(r.rejected.len(), 1);
        assert_eq!(
            r.arns,
            ["arn:aws:iam::111122223333:role/<ROLE_NAME_WITH_PATH>"]
        );

        // A masked account becomes the known one, and is reported.
        let r = resolve("iam:PassRole", ["arn:aws:iam::***:role/x"], &f, None);
        assert_eq!(r.arns, ["arn:aws:iam::111122223333:role/x"]);
        assert_eq!(r.masked, ["arn:aws:iam::***:role/x"]);
        let r = resolve(
            "iam:PassRole",
            ["arn:aws:iam::xxxx:role/x"],
            &fill(None, None),
            None,
        );
        assert_eq!(r.arns, ["arn:aws:iam::*:role/x"]);

        // Unknown to the data: nothing.
        let r = resolve(
            "lambda:Invoke",
            ["arn:aws:lambda:eu-west-1:111122223333:function:f"],
            &f,
            None,
        );
        assert!(!r.known && r.arns.is_empty());
    }
}
