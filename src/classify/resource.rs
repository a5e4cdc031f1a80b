//! Name the resource of a denial when the message does not: build its ARN
//! from the service's ARN template and the call's `requestParameters`, or
//! find the role an `iam:PassRole` was about.
//!
//! Runs only for denials (rare next to the records scanned), so it works on a
//! parsed [`serde_json::Value`]. Pure.

use std::collections::VecDeque;

use serde_json::Value;

/// Where a resource lives, for filling ARN templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// `awsRegion` (may be empty).
    pub region: &'a str,
    /// The account the resource belongs to (may be empty).
    pub account: &'a str,
}

/// The partition for a region (`cn-…` → `aws-cn`, `us-gov-…` → `aws-us-gov`,
/// else `aws`).
///
/// ```
/// use denytrail::classify::resource::partition_for_region;
/// assert_eq!(partition_for_region("cn-north-1"), "aws-cn");
/// assert_eq!(partition_for_region("eu-west-1"), "aws");
/// ```
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// The legacy resource text of older IAM messages (`role NAME`, `user NAME`,
/// `group NAME`, `policy NAME`, `instance-profile NAME`) as an ARN.
///
/// ```
/// use denytrail::classify::resource::legacy_resource_arn;
/// assert_eq!(
///     legacy_resource_arn("role lambda-exec", "aws", "123456789012").as_deref(),
///     Some("arn:aws:iam::123456789012:role/lambda-exec"),
/// );
/// assert_eq!(legacy_resource_arn("arn:aws:s3:::b", "aws", "1"), None);
/// ```
pub fn legacy_resource_arn(text: &str, partition: &str, account: &str) -> Option<String> {
    let (kind, name) = text.trim().split_once(' ')?;
    let name = name.trim();
    if account.is_empty() || !is_iam_name(name) {
        return None;
    }
    match kind {
        "role" | "user" | "group" | "policy" | "instance-profile" => {
            Some(format!("arn:{partition}:iam::{account}:{kind}/{name}"))
        }
        _ => None,
    }
}

/// A plausible IAM entity name (optionally with a path).
fn is_iam_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

/// A string parameter, looked up ASCII case-insensitively, non-empty.
fn param<'v>(params: &'v Value, key: &str) -> Option<&'v str> {
    let obj = params.as_object()?;
    let v = obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })?;
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// The resource ARN of a call, from its IAM action and `requestParameters`.
///
/// Covers, by service: `codeguru-profiler` (`profilingGroupName`), `s3`
/// (`bucketName` + `key`), `lambda` (`functionName`, `layerName`), `iam`
/// (`roleName`, `userName`, `groupName`, `instanceProfileName`,
/// `policyArn`), `sts` (`roleArn`), `kms` (`keyId`), `sqs` (`queueUrl`),
/// `sns` (`topicArn`), `dynamodb` (`tableName`), `logs` (`logGroupName`),
/// `ssm` (`name` of parameter calls), `secretsmanager` (`secretId` ARNs),
/// `ec2` (`instanceId`), `ecr` (`repositoryName`), `codecommit`
/// (`repositoryName`), `states` (`stateMachineArn`), `cloudformation`
/// (`stackName` ARNs).
///
/// ```
/// use denytrail::classify::resource::{from_request, Place};
/// let params = serde_json::json!({"profilingGroupName": "orders-api"});
/// let place = Place { partition: "aws", region: "us-east-1", account: "123456789012" };
/// assert_eq!(
///     from_request("codeguru-profiler:ConfigureAgent", &params, place).as_deref(),
///     Some("arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api"),
/// );
/// ```
pub fn from_request(action: &str, params: &Value, place: Place<'_>) -> Option<String> {
    let (service, name) = action.split_once(':')?;
    let Place {
        partition: p,
        region: r,
        account: a,
    } = place;
    let arn_or = |v: &str, build: &dyn Fn(&str) -> String| -> String {
        if v.starts_with("arn:") {
            v.to_string()
        } else {
            build(v)
        }
    };
    let regional = !r.is_empty() && !a.is_empty();
    match service.to_ascii_lowercase().as_str() {
        "codeguru-profiler" => {
            let g = param(params, "profilingGroupName")?;
            regional.then(|| {
                arn_or(g, &|g| {
                    format!("arn:{p}:codeguru-profiler:{r}:{a}:profilingGroup/{g}")
                })
            })
        }
        "s3" => {
            let b = param(params, "bucketName")?;
            Some(match param(params, "key") {
                Some(k) => format!("arn:{p}:s3:::{b}/{k}"),
                None => format!("arn:{p}:s3:::{b}"),
            })
        }
        "lambda" => {
            if let Some(f) = param(params, "functionName") {
                let f = f.to_string();
                if f.starts_with("arn:") {
                    return Some(f);
                }
                return regional.then(|| format!("arn:{p}:lambda:{r}:{a}:function:{f}"));
            }
            let l = param(params, "layerName")?;
            if l.starts_with("arn:") {
                return Some(l.to_string());
            }
            regional.then(|| format!("arn:{p}:lambda:{r}:{a}:layer:{l}"))
        }
        "iam" => {
            for (key, kind) in [
                ("roleName", "role"),
                ("userName", "user"),
                ("groupName", "group"),
                ("instanceProfileName", "instance-profile"),
            ] {
                if let Some(n) = param(params, key) {
                    return (!a.is_empty()).then(|| format!("arn:{p}:iam::{a}:{kind}/{n}"));
                }
            }
            param(params, "policyArn").map(str::to_string)
        }
        "sts" => param(params, "roleArn").map(str::to_string),
        "kms" => {
            let k = param(params, "keyId")?;
            if k.starts_with("arn:") {
                return Some(k.to_string());
            }
            regional.then(|| match k.strip_prefix("alias/") {
                Some(alias) => format!("arn:{p}:kms:{r}:{a}:alias/{alias}"),
                None => format!("arn:{p}:kms:{r}:{a}:key/{k}"),
            })
        }
        "sqs" => {
            let url = param(params, "queueUrl")?;
            // https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
            let path = url.split_once("://").map_or(url, |(_, rest)| rest);
            let mut parts = path.split('/');
            let host = parts.next()?;
            let acct = parts.next().filter(|s| !s.is_empty())?;
            let queue = parts.next().filter(|s| !s.is_empty())?;
            let qr = host
                .strip_prefix("sqs.")
                .and_then(|h| h.split('.').next())
                .filter(|h| h.contains('-'))
                .unwrap_or(r);
            Some(format!("arn:{p}:sqs:{qr}:{acct}:{queue}"))
        }
        "sns" => param(params, "topicArn").map(str::to_string),
        "dynamodb" => {
            let t = param(params, "tableName")?;
            if t.starts_with("arn:") {
                return Some(t.to_string());
            }
            regional.then(|| format!("arn:{p}:dynamodb:{r}:{a}:table/{t}"))
        }
        "logs" => {
            let g = param(params, "logGroupName")?;
            regional.then(|| format!("arn:{p}:logs:{r}:{a}:log-group:{g}"))
        }
        "ssm" if name.ends_with("Parameter") || name.ends_with("ParameterHistory") => {
            let n = param(params, "name")?;
            if n.starts_with("arn:") {
                return Some(n.to_string());
            }
            let n = n.strip_prefix('/').unwrap_or(n);
            regional.then(|| format!("arn:{p}:ssm:{r}:{a}:parameter/{n}"))
        }
        "secretsmanager" => param(params, "secretId")
            .filter(|s| s.starts_with("arn:"))
            .map(str::to_string),
        "ec2" => {
            let i = param(params, "instanceId")?;
            regional.then(|| format!("arn:{p}:ec2:{r}:{a}:instance/{i}"))
        }
        "ecr" => {
            let n = param(params, "repositoryName")?;
            regional.then(|| format!("arn:{p}:ecr:{r}:{a}:repository/{n}"))
        }
        "codecommit" => {
            let n = param(params, "repositoryName")?;
            regional.then(|| format!("arn:{p}:codecommit:{r}:{a}:{n}"))
        }
        "states" => param(params, "stateMachineArn").map(str::to_string),
        "cloudformation" => param(params, "stackName")
            .filter(|s| s.starts_with("arn:"))
            .map(str::to_string),
        _ => None,
    }
}

/// Keys (lower-cased) whose string value names a role.
fn is_role_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("rolearn")
        || matches!(
            k.as_str(),
            "role" | "executionrole" | "servicerole" | "iamrole" | "taskrole" | "jobrole"
        )
}

/// Keys (lower-cased) naming an instance profile.
fn is_profile_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "iaminstanceprofile" | "instanceprofile" | "instanceprofilearn" | "instanceprofilename"
    )
}

/// Most nodes [`passed_role`] looks at, against pathological input.
const MAX_NODES: usize = 10_000;

/// The role an `iam:PassRole` was about, found in `requestParameters`: the
/// first (breadth-first, so top-level keys win) value of a role key
/// (`roleArn`, `executionRoleArn`, `taskRoleArn`, `role`, `serviceRole`,
/// any `…RoleArn`), else of an instance-profile key (`iamInstanceProfile`
/// `{arn|name}`, `instanceProfileArn`). Bare names become ARNs in
/// `account`.
///
/// ```
/// use denytrail::classify::resource::passed_role;
/// let params = serde_json::json!({"containerDefinitions": [], "taskRoleArn": "arn:aws:iam::1:role/task"});
/// assert_eq!(passed_role(&params, "aws", "1").as_deref(), Some("arn:aws:iam::1:role/task"));
/// let ec2 = serde_json::json!({"iamInstanceProfile": {"name": "web"}});
/// assert_eq!(passed_role(&ec2, "aws", "1").as_deref(), Some("arn:aws:iam::1:instance-profile/web"));
/// ```
pub fn passed_role(params: &Value, partition: &str, account: &str) -> Option<String> {
    let as_arn = |v: &str, kind: &str| -> Option<String> {
        let v = v.trim();
        if v.starts_with("arn:") {
            return (v.contains(":role/") || v.contains(":instance-profile/"))
                .then(|| v.to_string());
        }
        (is_iam_name(v) && !account.is_empty())
            .then(|| format!("arn:{partition}:iam::{account}:{kind}/{v}"))
    };
    let found_role = bfs(params, |k, v| match v {
        Value::String(s) if is_role_key(k) => as_arn(s, "role"),
        _ => None,
    });
    if found_role.is_some() {
        return found_role;
    }
    bfs(params, |k, v| {
        if !is_profile_key(k) {
            return None;
        }
        match v {
            Value::String(s) => as_arn(s, "instance-profile"),
            Value::Object(_) => param(v, "arn")
                .and_then(|s| as_arn(s, "instance-profile"))
                .or_else(|| param(v, "name").and_then(|s| as_arn(s, "instance-profile"))),
            _ => None,
        }
    })
}

/// Breadth-first over every `(key, value)` of nested objects and arrays;
/// the first `Some` from `f` wins.
fn bfs(root: &Value, f: impl Fn(&str, &Value) -> Option<String>) -> Option<String> {
    let mut queue = VecDeque::from([root]);
    let mut seen = 0usize;
    while let Some(v) = queue.pop_front() {
        seen += 1;
        if seen > MAX_NODES {
            return None;
        }
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if let Some(found) = f(k, child) {
                        return Some(found);
                    }
                    if child.is_object() || child.is_array() {
                        queue.push_back(child);
                    }
                }
            }
            Value::Array(items) => {
                queue.extend(items.iter().filter(|c| c.is_object() || c.is_array()));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLACE: Place<'static> = Place {
        partition: "aws",
        region: "us-east-1",
        account: "123456789012",
    };

    #[test]
    fn from_request_table() {
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            (
                "codeguru-profiler:ConfigureAgent",
                json!({"profilingGroupName": "orders-api"}),
                Some("arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/orders-api"),
            ),
            (
                "s3:GetObject",
                json!({"bucketName": "b", "key": "a/b.txt"}),
                Some("arn:aws:s3:::b/a/b.txt"),
            ),
            (
                "s3:ListBucket",
                json!({"bucketName": "b", "Host": "b.s3.amazonaws.com"}),
                Some("arn:aws:s3:::b"),
            ),
            (
                "lambda:GetFunction",
                json!({"functionName": "f"}),
                Some("arn:aws:lambda:us-east-1:123456789012:function:f"),
            ),
            (
                "lambda:GetFunction",
                json!({"functionName": "arn:aws:lambda:eu-west-1:1:function:f"}),
                Some("arn:aws:lambda:eu-west-1:1:function:f"),
            ),
            (
                "iam:GetRole",
                json!({"roleName": "r"}),
                Some("arn:aws:iam::123456789012:role/r"),
            ),
            (
                "iam:AttachRolePolicy",
                json!({"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/X"}),
                Some("arn:aws:iam::123456789012:role/r"),
            ),
            (
                "iam:CreateUser",
                json!({"userName": "u"}),
                Some("arn:aws:iam::123456789012:user/u"),
            ),
            (
                "iam:CreatePolicyVersion",
                json!({"policyArn": "arn:aws:iam::1:policy/p"}),
                Some("arn:aws:iam::1:policy/p"),
            ),
            (
                "sts:AssumeRole",
                json!({"roleArn": "arn:aws:iam::1:role/x", "roleSessionName": "s"}),
                Some("arn:aws:iam::1:role/x"),
            ),
            (
                "kms:Decrypt",
                json!({"keyId": "alias/k"}),
                Some("arn:aws:kms:us-east-1:123456789012:alias/k"),
            ),
            (
                "sqs:SendMessage",
                json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/q"}),
                Some("arn:aws:sqs:eu-west-1:111122223333:q"),
            ),
            (
                "dynamodb:GetItem",
                json!({"tableName": "t"}),
                Some("arn:aws:dynamodb:us-east-1:123456789012:table/t"),
            ),
            (
                "logs:CreateLogStream",
                json!({"logGroupName": "/a/b"}),
                Some("arn:aws:logs:us-east-1:123456789012:log-group:/a/b"),
            ),
            (
                "ssm:GetParameter",
                json!({"name": "/app/db"}),
                Some("arn:aws:ssm:us-east-1:123456789012:parameter/app/db"),
            ),
            ("ssm:SendCommand", json!({"name": "x"}), None),
            (
                "secretsmanager:GetSecretValue",
                json!({"secretId": "plain"}),
                None,
            ),
            (
                "ec2:GetPasswordData",
                json!({"instanceId": "i-1"}),
                Some("arn:aws:ec2:us-east-1:123456789012:instance/i-1"),
            ),
            ("ec2:DescribeInstances", json!({"filterSet": {}}), None),
            ("s3:GetObject", json!(null), None),
            ("s3:GetObject", json!({"bucketName": 5}), None),
            ("s3:GetObject", json!({"bucketName": ""}), None),
            ("nocolon", json!({"bucketName": "b"}), None),
            ("unknownsvc:Do", json!({"name": "x"}), None),
        ];
        for (action, params, want) in cases {
            assert_eq!(
                from_request(action, &params, PLACE).as_deref(),
                want,
                "{action} {params}"
            );
        }
    }

    #[test]
    fn passed_role_table() {
        let cases: Vec<(Value, Option<&str>)> = vec![
            (
                json!({"roleArn": "arn:aws:iam::1:role/a"}),
                Some("arn:aws:iam::1:role/a"),
            ),
            (
                json!({"functionName": "f", "role": "arn:aws:iam::1:role/service-role/exec"}),
                Some("arn:aws:iam::1:role/service-role/exec"),
            ),
            (
                json!({"family": "f", "executionRoleArn": "arn:aws:iam::1:role/e"}),
                Some("arn:aws:iam::1:role/e"),
            ),
            // Nested, and top level wins over nested.
            (
                json!({"a": {"b": [{"serviceRoleArn": "arn:aws:iam::1:role/deep"}]}}),
                Some("arn:aws:iam::1:role/deep"),
            ),
            (
                json!({"z": {"roleArn": "arn:aws:iam::1:role/deep"}, "taskRoleArn": "arn:aws:iam::1:role/top"}),
                Some("arn:aws:iam::1:role/top"),
            ),
            // Glue: bare role name.
            (
                json!({"Role": "GlueRole"}),
                Some("arn:aws:iam::123456789012:role/GlueRole"),
            ),
            (
                json!({"instancesSet": {}, "iamInstanceProfile": {"arn": "arn:aws:iam::1:instance-profile/p"}}),
                Some("arn:aws:iam::1:instance-profile/p"),
            ),
            (
                json!({"iamInstanceProfile": {"name": "p"}}),
                Some("arn:aws:iam::123456789012:instance-profile/p"),
            ),
            // A role key with a non-role value is not a role.
            (json!({"roleArn": "arn:aws:s3:::b"}), None),
            (json!({"role": "not a name"}), None),
            (json!({"nothing": 1}), None),
            (json!([1, 2, [3]]), None),
        ];
        for (params, want) in cases {
            assert_eq!(
                passed_role(&params, "aws", "123456789012").as_deref(),
                want,
                "{params}"
            );
        }
    }

    #[test]
    fn legacy_table() {
        let cases = [
            (
                "role lambda-exec",
                "1",
                Some("arn:aws:iam::1:role/lambda-exec"),
            ),
            ("user bob", "1", Some("arn:aws:iam::1:user/bob")),
            ("role lambda-exec", "", None),
            ("role", "1", None),
            ("thing x", "1", None),
            ("role a b", "1", None),
        ];
        for (text, acct, want) in cases {
            assert_eq!(
                legacy_resource_arn(text, "aws", acct).as_deref(),
                want,
                "{text}"
            );
        }
    }
}
