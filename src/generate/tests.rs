//! Tests of the generator: determinism, formats that parse, truth that
//! matches the records (counted here with plain `serde_json::Value`).

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;

fn cfg(seed: u64, records: u64, rate: f64) -> CorpusConfig {
    CorpusConfig::builder()
        .seed(seed)
        .records(records)
        .denial_rate(rate)
        .records_per_file(150)
        .build()
        .unwrap()
}

fn jsonl(c: &CorpusConfig) -> (Vec<u8>, Truth) {
    let mut out = Vec::new();
    let t = write_jsonl(c, &mut out).unwrap();
    (out, t)
}

fn gunzip_all(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    v.sort();
    v
}

const DENIAL_CODES: [&str; 3] = [
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
];
const AUTH_CODES: [&str; 3] = [
    "InvalidClientTokenId",
    "ExpiredToken",
    "SignatureDoesNotMatch",
];

/// Counts from the records themselves: distinct denials and auth failures
/// (dedup by eventID, then sharedEventID), Insight records skipped.
fn count_from_records(records: &[Value]) -> (u64, u64, u64) {
    let mut seen_ids = HashSet::new();
    let mut seen_shared = HashSet::new();
    let (mut denials, mut auth, mut insight) = (0, 0, 0);
    for r in records {
        if r["eventType"] == "AwsCloudTrailInsight" {
            insight += 1;
            continue;
        }
        let id = r["eventID"].as_str().unwrap().to_string();
        if !seen_ids.insert(id) {
            continue;
        }
        let shared = r["sharedEventID"].as_str();
        if shared.is_some_and(|s| !seen_shared.insert(s.to_string())) {
            continue;
        }
        match r["errorCode"].as_str() {
            Some(c) if DENIAL_CODES.contains(&c) => denials += 1,
            Some(c) if AUTH_CODES.contains(&c) => auth += 1,
            _ => {}
        }
    }
    (denials, auth, insight)
}

fn parse_lines(bytes: &[u8]) -> Vec<Value> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, ta) = jsonl(&cfg(7, 3000, 0.05));
    let (b, tb) = jsonl(&cfg(7, 3000, 0.05));
    let (c, _) = jsonl(&cfg(8, 3000, 0.05));
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    assert_ne!(a, c);
    let mut t1 = Vec::new();
    let mut t2 = Vec::new();
    write_text_log(&cfg(7, 500, 0.05), &mut t1).unwrap();
    write_text_log(&cfg(7, 500, 0.05), &mut t2).unwrap();
    assert_eq!(t1, t2);
}

#[test]
fn truth_matches_the_records() {
    for (seed, n, rate) in [
        (1, 5000, 0.02),
        (2, 4000, 0.2),
        (3, 20_000, 0.0001),
        (4, 300, 0.0),
    ] {
        let c = cfg(seed, n, rate);
        let (bytes, truth) = jsonl(&c);
        let recs = parse_lines(&bytes);
        assert_eq!(recs.len() as u64, n);
        assert_eq!(truth.records, n);
        let (denials, auth, insight) = count_from_records(&recs);
        assert_eq!(denials, truth.denials_all, "seed {seed}");
        assert_eq!(auth, truth.auth_failures, "seed {seed}");
        assert_eq!(
            insight,
            truth
                .classes
                .get(&RecordClass::Insight)
                .copied()
                .unwrap_or(0)
        );
        let g_all: u64 = truth.groups_all.iter().map(|g| g.count).sum();
        let g_def: u64 = truth.groups_default_scope.iter().map(|g| g.count).sum();
        assert_eq!(g_all, truth.denials_all);
        assert_eq!(g_def, truth.denials_default_scope);
        assert!(
            truth
                .groups_all
                .windows(2)
                .all(|w| (&w[0].principal, &w[0].action) < (&w[1].principal, &w[1].action))
        );
        // Traps carry denial words but no errorCode.
        let traps = recs
            .iter()
            .filter(|r| r.get("errorCode").is_none() && r.to_string().contains("AccessDenied"))
            .count();
        assert!(n < 1000 || traps > 0);
    }
}

#[test]
fn denial_rate_is_about_right_and_every_kind_shows() {
    let c = cfg(11, 20_000, 0.2);
    let mut classes = BTreeMap::new();
    let mut actions = HashSet::new();
    let mut reasons = HashSet::new();
    let (mut encoded, mut truncated, mut pathed) = (0, 0, 0);
    for rec in Generator::new(&c) {
        *classes.entry(rec.truth.class).or_insert(0u64) += 1;
        if let Some(d) = &rec.truth.denial {
            actions.insert(d.action.clone());
            reasons.insert(d.reason.clone());
            encoded += u64::from(d.encoded);
            truncated += u64::from(d.truncated);
            if d.principal.contains(":role/service-role/") {
                pathed += 1;
            }
            let v: Value = serde_json::from_slice(&rec.json).unwrap();
            if d.truncated {
                let m = v["errorMessage"].as_str().unwrap();
                assert_eq!(m.chars().count(), 1024);
                assert!(m.ends_with("..."));
            }
            if d.principal.contains(":role/") && v["userIdentity"]["type"] == "AssumedRole" {
                assert_eq!(
                    v["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
                    d.principal.as_str()
                );
            }
        }
    }
    let denials = classes[&RecordClass::Denial] as f64;
    assert!((denials / 20_000.0 - 0.2).abs() < 0.03, "{denials}");
    for class in [
        RecordClass::Allowed,
        RecordClass::Trap,
        RecordClass::OtherError,
        RecordClass::AuthFailure,
        RecordClass::Insight,
        RecordClass::Duplicate,
        RecordClass::CrossAccountCopy,
    ] {
        assert!(classes.contains_key(&class), "{class:?}");
    }
    for a in [
        "iam:PassRole",
        "codeguru-profiler:DescribeProfilingGroup",
        "codeguru-profiler:ConfigureAgent",
        "codeguru-profiler:PostAgentProfile",
        "s3:GetObject",
        "lambda:CreateFunction",
        "sts:AssumeRole",
        "ec2:RunInstances",
        "kms:Decrypt",
        "iam:CreateAccessKey",
    ] {
        assert!(actions.contains(a), "{a}");
    }
    for r in [
        "implicit-identity",
        "implicit-boundary",
        "implicit-session",
        "implicit-resource",
        "implicit-vpce",
        "explicit-scp",
        "explicit-boundary",
        "explicit-rcp",
        "explicit-identity",
        "unknown",
    ] {
        assert!(reasons.contains(r), "{r}");
    }
    assert!(encoded > 0 && truncated > 0 && pathed > 0);
}

#[test]
fn records_are_about_one_kilobyte() {
    let (bytes, truth) = jsonl(&cfg(5, 10_000, 0.01));
    let avg = bytes.len() as f64 / truth.records as f64;
    assert!((800.0..=1500.0).contains(&avg), "average record size {avg}");
}

#[test]
fn many_principals_are_cheap_and_distinct() {
    let c = CorpusConfig::builder()
        .seed(9)
        .records(20_000)
        .denial_rate(0.5)
        .principals(1_000_000)
        .build()
        .unwrap();
    let truth = write_jsonl(&c, std::io::sink()).unwrap();
    let principals: HashSet<_> = truth.groups_all.iter().map(|g| &g.principal).collect();
    assert!(principals.len() > 3000, "{}", principals.len());
}

#[test]
fn every_format_holds_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(21, 1200, 0.05);
    let truth = write_corpus(&c, &CorpusFormat::ALL, dir.path()).unwrap();
    let (reference, _) = jsonl(&c);
    let mut want: Vec<Value> = parse_lines(&reference);
    let key = |v: &Value| v.to_string();
    want.sort_by_key(key);

    // truth.json round-trips
    let t: Truth =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    assert_eq!(t, truth);

    // records (gz) and records-json: Records arrays; Digest and Insight apart.
    for (fmt, gz) in [("records", true), ("records-json", false)] {
        let mut got = Vec::new();
        let mut insight_files = 0;
        let mut digest_files = 0;
        for f in files_under(&dir.path().join(fmt)) {
            let raw = std::fs::read(&f).unwrap();
            let name = f.to_string_lossy().to_string();
            assert_eq!(name.ends_with(".json.gz"), gz);
            let doc = if gz { gunzip_all(&raw) } else { raw };
            assert!(!doc.contains(&b'\n'), "one line per file");
            let v: Value = serde_json::from_slice(&doc).unwrap();
            if name.contains("CloudTrail-Digest") {
                digest_files += 1;
                assert!(v.get("Records").is_none());
                continue;
            }
            if name.contains("CloudTrail-Insight") {
                insight_files += 1;
            }
            let recs = v["Records"].as_array().unwrap();
            assert!(recs.len() <= 150);
            let acct = name
                .split("AWSLogs/")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            for r in recs {
                assert_eq!(r["recipientAccountId"], acct);
            }
            got.extend(recs.iter().cloned());
        }
        assert_eq!((insight_files, digest_files), (1, 1));
        got.sort_by_key(key);
        assert_eq!(got, want, "{fmt}");
    }

    // jsonl
    let got = parse_lines(&std::fs::read(dir.path().join("jsonl/cloudtrail.jsonl")).unwrap());
    let mut got = got;
    got.sort_by_key(key);
    assert_eq!(got, want);

    // lookup-events
    let mut got = Vec::new();
    for f in files_under(&dir.path().join("lookup-events")) {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for e in v["Events"].as_array().unwrap() {
            let rec: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
            assert_eq!(e["EventId"], rec["eventID"]);
            got.push(rec);
        }
    }
    got.sort_by_key(key);
    assert_eq!(got, want);

    // cw-export: `<timestamp> <record>` lines
    let mut got = Vec::new();
    for f in files_under(&dir.path().join("cw-export")) {
        assert!(f.to_string_lossy().ends_with(".gz"));
        let text = String::from_utf8(gunzip_all(&std::fs::read(f).unwrap())).unwrap();
        for line in text.lines() {
            let (ts, msg) = line.split_once(' ').unwrap();
            assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
            got.push(serde_json::from_str::<Value>(msg).unwrap());
        }
    }
    got.sort_by_key(key);
    assert_eq!(got, want);

    // cw-subscription: concatenated gzip members, each one payload
    let mut got = Vec::new();
    let mut control = 0;
    for f in files_under(&dir.path().join("cw-subscription")) {
        let raw = std::fs::read(f).unwrap();
        let mut rest: &[u8] = &raw;
        while !rest.is_empty() {
            let mut dec = flate2::bufread::GzDecoder::new(rest);
            let mut payload = Vec::new();
            dec.read_to_end(&mut payload).unwrap();
            rest = dec.into_inner();
            let v: Value = serde_json::from_slice(&payload).unwrap();
            if v["messageType"] == "CONTROL_MESSAGE" {
                control += 1;
                continue;
            }
            assert_eq!(v["messageType"], "DATA_MESSAGE");
            for e in v["logEvents"].as_array().unwrap() {
                assert_eq!(e["id"].as_str().unwrap().len(), 56);
                got.push(serde_json::from_str::<Value>(e["message"].as_str().unwrap()).unwrap());
            }
        }
    }
    assert_eq!(control, 1);
    got.sort_by_key(key);
    assert_eq!(got, want);

    // text has its own truth
    let tt: Truth =
        serde_json::from_slice(&std::fs::read(dir.path().join("text/truth.json")).unwrap())
            .unwrap();
    let log = std::fs::read_to_string(dir.path().join("text/app.log")).unwrap();
    assert_eq!(log.lines().count() as u64, tt.records);
    let denial_lines = log
        .lines()
        .filter(|l| l.contains("is not authorized to perform: ") && l.contains("User: arn:"))
        .count();
    assert_eq!(denial_lines as u64, tt.denials_all);
}

#[test]
fn formats_parse_from_their_names() {
    for f in CorpusFormat::ALL {
        assert_eq!(f.as_str().parse::<CorpusFormat>().unwrap(), f);
    }
    assert!("xml".parse::<CorpusFormat>().is_err());
}

#[test]
fn small_and_empty_corpora_work() {
    for n in [0, 1, 2, 3, 199, 200, 201] {
        let (bytes, t) = jsonl(&cfg(3, n, 0.5));
        assert_eq!(parse_lines(&bytes).len() as u64, n);
        assert_eq!(t.records, n);
    }
    let dir = tempfile::tempdir().unwrap();
    write_corpus(&cfg(3, 0, 0.5), &CorpusFormat::ALL, dir.path()).unwrap();
}

#[test]
fn generator_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Generator>();
    is_send::<TextGenerator>();
}

/// `samples/` is what `denytrail generate --seed 7 --records 500
/// --denial-rate 0.05 --formats records,jsonl,text,cw-export --out samples`
/// writes: regenerate it with that command when the generator changes.
#[test]
fn samples_match_the_documented_command() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    if !samples.join("truth.json").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = CorpusConfig::builder()
        .seed(7)
        .records(500)
        .denial_rate(0.05)
        .build()
        .unwrap();
    let formats = [
        CorpusFormat::Records,
        CorpusFormat::Jsonl,
        CorpusFormat::Text,
        CorpusFormat::CwExport,
    ];
    write_corpus(&c, &formats, dir.path()).unwrap();
    let made = files_under(dir.path());
    assert!(!made.is_empty());
    for f in made {
        let rel = f.strip_prefix(dir.path()).unwrap();
        let committed = std::fs::read(samples.join(rel))
            .unwrap_or_else(|e| panic!("samples/{}: {e}", rel.display()));
        assert!(
            std::fs::read(&f).unwrap() == committed,
            "samples/{} differs",
            rel.display()
        );
    }
}
