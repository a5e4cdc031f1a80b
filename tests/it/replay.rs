//! `denytrail replay` end to end: formats, bad input, exit codes, public samples.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use denytrail::report::Report;
use serde_json::Value;

use crate::util::{repo, run};

/// Run replay with JSON output and parse the report (read back strictly:
/// the report types deny unknown fields).
fn replay_json(args: &[&str]) -> (Report, i32, String) {
    let mut full = vec!["replay", "--format", "json", "--quiet"];
    full.extend_from_slice(args);
    let out = run(&full);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report is not valid JSON ({e}); stderr: {stderr}"));
    (report, out.status.code().unwrap_or(-1), stderr)
}

fn denial_line(principal: &str, action_msg: &str, id: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": principal, "accountId": "123456789012"},
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "PassRole",
        "awsRegion": "us-east-1",
        "errorCode": "AccessDenied",
        "errorMessage": format!("User: {principal} is not authorized to perform: {action_msg}"),
        "eventID": id,
        "recipientAccountId": "123456789012"
    })
    .to_string()
}

fn allowed_line(id: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ok", "accountId": "123456789012"},
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "eventID": id,
        "recipientAccountId": "123456789012"
    })
    .to_string()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const PASSROLE: &str = "iam:PassRole on resource: arn:aws:iam::123456789012:role/app";

#[test]
fn clean_input_exits_zero_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for i in 0..50 {
        body += &allowed_line(&format!("a{i}"));
        body.push('\n');
        if i % 10 == 0 {
            body += &denial_line(
                "arn:aws:iam::123456789012:user/ci",
                PASSROLE,
                &format!("d{i}"),
            );
            body.push('\n');
        }
    }
    std::fs::write(dir.path().join("a.jsonl"), &body).unwrap();
    let (r, code, _) = replay_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r.summary.records, 55);
    assert_eq!(r.summary.denials, 5);
    assert_eq!(r.summary.errors, 0);
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].action, "iam:PassRole");
    assert_eq!(
        r.groups[0].resources[0].arn,
        "arn:aws:iam::123456789012:role/app"
    );

    let out = run(&[
        "replay",
        "--quiet",
        "--fail-on-denials",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn duplicates_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let line = denial_line("arn:aws:iam::123456789012:user/ci", PASSROLE, "same-id");
    std::fs::write(dir.path().join("a.jsonl"), format!("{line}\n{line}\n")).unwrap();
    std::fs::write(dir.path().join("b.jsonl"), format!("{line}\n")).unwrap();
    let (r, code, _) = replay_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r.summary.records, 3);
    assert_eq!(r.summary.denials, 1);
    assert_eq!(r.summary.duplicates, 2);
}

/// Each bad-input case: the error is reported with file and offset, counted
/// by kind, the good records of the same file are kept, and the exit code is 3.
#[test]
fn bad_input_is_reported_and_good_records_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = |i: u32| {
        denial_line(
            "arn:aws:iam::123456789012:user/ci",
            PASSROLE,
            &format!("id{i}"),
        )
    };

    // Invalid JSON candidate between good lines: offset of the bad line.
    let good1 = d(1);
    let bad = "{\"errorCode\":\"AccessDenied\", this is not json";
    let invalid = format!("{good1}\n{bad}\n{}\n", d(2));
    std::fs::write(dir.path().join("invalid.jsonl"), &invalid).unwrap();

    // Non-UTF-8 inside a candidate line.
    let mut nonutf8 = format!("{}\n", d(3)).into_bytes();
    nonutf8.extend_from_slice(b"{\"errorCode\":\"AccessDenied\",\"errorMessage\":\"\xff\xfe\"}\n");
    nonutf8.extend_from_slice(format!("{}\n", d(4)).as_bytes());
    std::fs::write(dir.path().join("nonutf8.jsonl"), &nonutf8).unwrap();

    // Truncated gzip: a Records archive cut short keeps its first records.
    let records: Vec<Value> = (10..400)
        .map(|i| serde_json::from_str(&d(i)).unwrap())
        .collect();
    let archive = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    let z = gzip(&archive);
    std::fs::write(dir.path().join("cut.json.gz"), &z[..z.len() * 2 / 3]).unwrap();

    // Binary junk.
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(dir.path().join("junk.bin"), &junk).unwrap();

    let (r, code, stderr) =
        replay_json(&[dir.path().to_str().unwrap(), "/nonexistent/denytrail-test"]);
    assert_eq!(code, 3, "{stderr}");
    let kinds = &r.summary.errors_by_kind;
    assert_eq!(kinds.get("invalid_json"), Some(&1), "{kinds:?}");
    assert_eq!(kinds.get("invalid_utf8"), Some(&1), "{kinds:?}");
    assert_eq!(kinds.get("truncated_gzip"), Some(&1), "{kinds:?}");
    assert_eq!(kinds.get("binary"), Some(&1), "{kinds:?}");
    assert_eq!(kinds.get("unreadable"), Some(&1), "{kinds:?}");
    assert_eq!(r.summary.errors, 5);

    let invalid_err = r.errors.iter().find(|e| e.kind == "invalid_json").unwrap();
    assert!(invalid_err.origin.ends_with("invalid.jsonl"));
    assert_eq!(invalid_err.offset, good1.len() as u64 + 1);
    assert!(stderr.contains("invalid.jsonl: byte"), "{stderr}");
    assert!(stderr.contains("nonexistent"), "{stderr}");

    // Good records of the damaged files are all there: 4 from the line
    // files plus the archive's records before the cut.
    let from_archive = r.summary.denials - 4;
    assert!(from_archive > 50 && from_archive < 390, "{from_archive}");
}

#[test]
fn a_100_mb_line_is_skipped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let first = denial_line("arn:aws:iam::123456789012:user/a", PASSROLE, "h1");
    writeln!(f, "{first}").unwrap();
    write!(f, "{{\"errorCode\":\"AccessDenied\",\"pad\":\"").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&chunk).unwrap();
    }
    writeln!(f, "\"}}").unwrap();
    writeln!(
        f,
        "{}",
        denial_line("arn:aws:iam::123456789012:user/b", PASSROLE, "h2")
    )
    .unwrap();
    drop(f);
    let (r, code, stderr) = replay_json(&[path.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(r.summary.errors_by_kind.get("oversized_record"), Some(&1));
    assert_eq!(r.errors[0].offset, first.len() as u64 + 1);
    assert_eq!(r.summary.denials, 2);
    assert_eq!(r.summary.records, 3);
}

#[test]
fn usage_errors_exit_two_and_fatal_errors_exit_one() {
    assert_eq!(run(&["replay", "--scope", "[", "x"]).status.code(), Some(2));
    assert_eq!(
        run(&["replay", "--shard", "3/3", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["replay"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let notreport = dir.path().join("x.json");
    std::fs::write(&notreport, "{}").unwrap();
    let out = run(&["merge", notreport.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a denytrail JSON report"));
}

/// The public CloudTrail samples (`../shared/data`), checked against an
/// independent count made here with plain serde_json.
#[test]
fn public_cloudtrail_samples_match_an_independent_count() {
    let data = repo().join("../shared/data/invictus-ir-aws-dataset");
    if !data.is_dir() {
        eprintln!("skipping: {} is not here", data.display());
        return;
    }
    // The .json archives only: the folder also holds the LICENSE text.
    let mut files: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("json"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["--scope", "all"];
    args.extend(files.iter().map(String::as_str));
    let (r, code, stderr) = replay_json(&args);
    assert_eq!(code, 0, "{stderr}");
    let want = independent_count(&data);
    assert_eq!(r.summary.records, want.records);
    let got: BTreeMap<String, u64> = {
        let mut m = BTreeMap::new();
        for g in &r.groups {
            *m.entry(g.principal.clone()).or_insert(0) += g.count;
        }
        m
    };
    assert_eq!(got, want.by_principal);
    assert!(r.summary.denials > 0);
}

struct Count {
    records: u64,
    by_principal: BTreeMap<String, u64>,
}

fn independent_count(dir: &Path) -> Count {
    const FAMILY: &[&str] = &[
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "Client.UnauthorizedOperation",
    ];
    let mut records = 0;
    let mut seen = HashSet::new();
    let mut by_principal = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for rec in v["Records"].as_array().unwrap() {
            records += 1;
            let code = rec["errorCode"].as_str().unwrap_or("");
            let msg = rec["errorMessage"].as_str().unwrap_or("");
            if !(FAMILY.contains(&code) || msg.contains("is not authorized to perform")) {
                continue;
            }
            if !seen.insert(rec["eventID"].as_str().unwrap_or("").to_string()) {
                continue;
            }
            let arn = rec["userIdentity"]["arn"].as_str().unwrap_or("");
            // assumed-role sessions count toward their role
            let principal =
                match rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"].as_str() {
                    Some(issuer) if arn.contains(":assumed-role/") => issuer.to_string(),
                    _ => arn.to_string(),
                };
            *by_principal.entry(principal).or_insert(0) += 1;
        }
    }
    Count {
        records,
        by_principal,
    }
}

/// 2000 records without denials in `dir/a.jsonl`, big enough to show
/// progress: its path and size.
fn progress_corpus(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let input = dir.join("a.jsonl");
    let body: String = (0..2000)
        .map(|i| allowed_line(&format!("p{i}")) + "\n")
        .collect();
    std::fs::write(&input, &body).unwrap();
    (input, body.len() as u64)
}

/// A progress bar is drawn on stderr when stderr is a terminal (here a
/// pseudo-terminal made by `script`), and never when it is not.
#[test]
fn progress_bar_only_on_a_terminal() {
    let script = crate::util::require_tool("script");
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = progress_corpus(dir.path());
    let report = dir.path().join("r.txt");
    let cmd = format!(
        "{} replay --output {} {}",
        crate::util::bin().display(),
        report.display(),
        input.display()
    );
    // The pseudo-terminal's type is the test's, not the caller's (a fresh
    // container runs with TERM=dumb).
    let out = std::process::Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(
        tty.contains("KiB") || tty.contains("MiB"),
        "no progress bar on the terminal: {tty:?}"
    );
    assert!(
        tty.contains('\x1b'),
        "a bar redraws with cursor control: {tty:?}"
    );
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("2000 records")
    );

    let plain = run(&["replay", input.to_str().unwrap()]);
    assert!(
        plain.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
}

/// A terminal that cannot move the cursor (TERM dumb or unset) gets plain
/// progress lines, no escape sequences: one at least every interval and a
/// last one with the whole size read.
#[test]
fn plain_progress_lines_on_a_dumb_terminal() {
    let script = crate::util::require_tool("script");
    let dir = tempfile::tempdir().unwrap();
    let (input, size) = progress_corpus(dir.path());
    let report = dir.path().join("r.txt");
    for (term, every) in [(Some("dumb"), "0s"), (None, "1h")] {
        let cmd = format!(
            "{} replay --progress-interval {every} --output {} {}",
            crate::util::bin().display(),
            report.display(),
            input.display()
        );
        let mut c = std::process::Command::new(&script);
        c.args(["-qec", &cmd, "/dev/null"]);
        match term {
            Some(t) => c.env("TERM", t),
            None => c.env_remove("TERM"),
        };
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tty = String::from_utf8_lossy(&out.stdout);
        assert!(
            !tty.contains('\x1b'),
            "escape sequences on a {term:?} terminal: {tty:?}"
        );
        let lines: Vec<&str> = tty
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| l.starts_with("denytrail: read "))
            .collect();
        // 0s: a line per chunk read and the last line; 1h: the last only.
        let least = if every == "0s" { 2 } else { 1 };
        assert!(lines.len() >= least, "{term:?}: {tty:?}");
        // "read A of B (100%)": all of the file, as its size says.
        let last = lines.last().unwrap();
        let (read, rest) = last["denytrail: read ".len()..].split_once(" of ").unwrap();
        let (total, rest) = rest.split_once(" (").unwrap();
        assert_eq!(read, total, "{term:?}: {last:?}");
        assert!(rest.starts_with("100%)"), "{term:?}: {last:?}");
        assert!(total.ends_with("iB"), "{total:?} for {size} bytes");
    }
}

/// A large plain JSON Lines file is split into line-aligned parts scanned in
/// parallel; the report (counts, dedup, error offsets) is the same as one
/// pass over the whole file.
#[test]
fn split_files_give_the_same_report_as_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut body = String::new();
    for i in 0..3000 {
        body += &allowed_line(&format!("a{i}"));
        body.push('\n');
        if i % 7 == 0 {
            // Repeated deliveries (same ID, same record) far apart land in
            // different parts.
            let id = i % 300;
            let p = format!("arn:aws:iam::123456789012:user/u{}", id % 13);
            body += &denial_line(&p, PASSROLE, &format!("d{id}"));
            body.push('\n');
        }
        if i % 997 == 0 {
            body += "{\"errorCode\":\"AccessDenied\", broken\n";
        }
    }
    body += &denial_line(
        "arn:aws:iam::123456789012:user/last",
        PASSROLE,
        "no-newline",
    );
    std::fs::write(&path, &body).unwrap();
    let p = path.to_str().unwrap();
    let (whole, code, _) = replay_json(&["--split-bytes", "0", "-j", "1", p]);
    assert_eq!(code, 3);
    assert!(whole.summary.duplicates > 0);
    for split in ["5000", "65536", "300001"] {
        for j in ["1", "2"] {
            let (parts, code, stderr) = replay_json(&["--split-bytes", split, "-j", j, p]);
            assert_eq!(code, 3, "{stderr}");
            assert_eq!(parts.summary, whole.summary, "split {split}, -j {j}");
            assert_eq!(parts.groups, whole.groups, "split {split}, -j {j}");
            assert_eq!(parts.errors, whole.errors, "split {split}, -j {j}");
        }
    }
}
