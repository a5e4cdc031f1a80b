//! IAM policy documents for the hints: least-privilege `Allow` statements,
//! the resource side of cross-account access, and the resources they name.
//!
//! Pure: builds `serde_json::Value`s from strings. `"Resource": "*"` appears
//! only for actions that take no resource ([`super::is_resourceless`]).

use serde_json::{Map, Value, json};

use super::arn::{self, Arn, Fill};
use super::tables;

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
    /// ARNs to allow on, sorted, distinct; empty when the action takes none.
    pub arns: Vec<String>,
    /// The action takes no resource (`"Resource": "*"`).
    pub resourceless: bool,
    /// Some ARN still holds a `<PLACEHOLDER>`.
    pub placeholder: bool,
    /// The events named no resource at all.
    pub unnamed: bool,
    /// Names from messages turned into ARNs: `(name, arn)`.
    pub built: Vec<(String, String)>,
}

/// Work out the ARNs `action` must be allowed on from the group's resource
/// keys: ARNs as they are, bare names through the service's ARN template,
/// and a placeholder ARN when the events named nothing.
pub(crate) fn resolve<'r>(
    action: &str,
    resources: impl IntoIterator<Item = &'r str>,
    fill: &Fill,
) -> Resolved {
    if tables::is_resourceless(action) {
        return Resolved {
            resourceless: true,
            ..Resolved::default()
        };
    }
    let service = tables::split_action(action).map_or("", |(s, _)| s);
    let template = tables::template_for(action).unwrap_or(&tables::GENERIC_TEMPLATE);
    let mut out = Resolved::default();
    for r in resources {
        let r = r.trim();
        if r.is_empty() || r == "*" {
            continue;
        }
        if Arn::parse(r).is_some() {
            out.arns.push(r.to_string());
        } else {
            let b = arn::build(template, service, fill, Some(r));
            out.placeholder |= b.placeholder;
            out.built.push((r.to_string(), b.arn.clone()));
            out.arns.push(b.arn);
        }
    }
    if out.arns.is_empty() {
        let b = arn::build(template, service, fill, None);
        out.placeholder = true;
        out.unnamed = true;
        out.arns.push(b.arn);
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
        let r = resolve("iam:ListRoles", ["x"], &f);
        assert!(r.resourceless && r.arns.is_empty());

        let r = resolve(
            "codeguru-profiler:PostAgentProfile",
            ["my-example-profiling-group", "*", ""],
            &f,
        );
        assert_eq!(
            r.arns,
            [
                "arn:aws:codeguru-profiler:eu-west-1:111122223333:profilingGroup/my-example-profiling-group"
            ]
        );
        assert!(!r.placeholder && !r.unnamed && r.built.len() == 1);

        let r = resolve("codeguru-profiler:GetProfile", [], &fill(None, None));
        assert_eq!(
            r.arns,
            ["arn:aws:codeguru-profiler:<REGION>:<ACCOUNT>:profilingGroup/<PROFILING_GROUP_NAME>"]
        );
        assert!(r.placeholder && r.unnamed);

        let r = resolve("ec2:RunInstances", [], &f);
        assert_eq!(
            r.arns,
            ["arn:aws:ec2:eu-west-1:111122223333:<RESOURCE_TYPE>/<RESOURCE_NAME>"]
        );

        let r = resolve("ssm:GetParameter", ["/app/db"], &f);
        assert_eq!(
            r.arns,
            ["arn:aws:ssm:eu-west-1:111122223333:parameter/app/db"]
        );

        let r = resolve("s3:GetObject", ["arn:aws:s3:::b/k", "arn:aws:s3:::b/k"], &f);
        assert_eq!(r.arns, ["arn:aws:s3:::b/k"]);
    }
}
