//! Any input format ⇒ the same report, equal to the generator's truth; and
//! golden reports and hints (regenerate with `DENYTRAIL_BLESS=1 cargo test
//! --release --test it golden`).

use std::path::Path;

use denytrail::generate::Truth;
use denytrail::report::Report;

use crate::util::{repo, run};

pub fn generate(dir: &Path, seed: &str, records: &str, rate: &str, formats: &str) -> Truth {
    let out = run(&[
        "generate",
        "--seed",
        seed,
        "--records",
        records,
        "--denial-rate",
        rate,
        "--formats",
        formats,
        "--records-per-file",
        "150",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth_path = if formats == "text" {
        dir.join("text/truth.json")
    } else {
        dir.join("truth.json")
    };
    serde_json::from_slice(&std::fs::read(truth_path).unwrap()).unwrap()
}

fn replay(args: &[&str]) -> Report {
    let mut full = vec!["replay", "--format", "json", "--quiet"];
    full.extend_from_slice(args);
    serde_json::from_slice(&run_ok(&full).stdout).unwrap()
}

/// Run the binary; it must exit 0 (its stderr is the failure message).
fn run_ok(args: &[&str]) -> std::process::Output {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const CLOUDTRAIL_FORMATS: [&str; 6] = [
    "records",
    "records-json",
    "jsonl",
    "lookup-events",
    "cw-export",
    "cw-subscription",
];

#[test]
fn every_format_gives_the_same_report_and_it_matches_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "11",
        "3000",
        "0.05",
        &CLOUDTRAIL_FORMATS.join(","),
    );
    for scope in ["default", "all"] {
        let want = if scope == "all" {
            &truth.groups_all
        } else {
            &truth.groups_default_scope
        };
        let want_denials = if scope == "all" {
            truth.denials_all
        } else {
            truth.denials_default_scope
        };
        let mut first: Option<(String, Report)> = None;
        for f in CLOUDTRAIL_FORMATS {
            let r = replay(&["--scope", scope, dir.path().join(f).to_str().unwrap()]);
            assert_eq!(r.summary.denials, want_denials, "{f} {scope}");
            assert_eq!(r.summary.errors, 0, "{f}: {:?}", r.errors);
            let auth: u64 = r.summary.auth_failures.values().sum();
            assert_eq!(auth, truth.auth_failures, "{f}");
            let mut got: Vec<(String, String, u64)> = r
                .groups
                .iter()
                .map(|g| (g.principal.clone(), g.action.clone(), g.count))
                .collect();
            got.sort();
            let mut exp: Vec<(String, String, u64)> = want
                .iter()
                .map(|g| (g.principal.clone(), g.action.clone(), g.count))
                .collect();
            exp.sort();
            assert_eq!(got, exp, "{f} {scope}");
            match &first {
                None => first = Some((f.to_string(), r)),
                Some((f0, r0)) => {
                    assert_eq!(r.groups, r0.groups, "{f} differs from {f0} ({scope})")
                }
            }
        }
    }
}

#[test]
fn text_logs_match_their_truth() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path(), "5", "2000", "0.05", "text");
    let r = replay(&["--scope", "all", dir.path().join("text").to_str().unwrap()]);
    assert_eq!(r.summary.denials, truth.denials_all);
    let mut got: Vec<(String, String, u64)> = r
        .groups
        .iter()
        .map(|g| (g.principal.clone(), g.action.clone(), g.count))
        .collect();
    got.sort();
    let mut exp: Vec<(String, String, u64)> = truth
        .groups_all
        .iter()
        .map(|g| (g.principal.clone(), g.action.clone(), g.count))
        .collect();
    exp.sort();
    assert_eq!(got, exp);
}

/// The shipped samples match their truth (the README's first command).
#[test]
fn shipped_samples_match_their_truth() {
    let samples = repo().join("samples");
    let truth: Truth =
        serde_json::from_slice(&std::fs::read(samples.join("truth.json")).unwrap()).unwrap();
    let mut dirs = Vec::new();
    for f in ["records", "jsonl", "cw-export"] {
        dirs.push(samples.join(f));
    }
    for d in &dirs {
        let r = replay(&[d.to_str().unwrap()]);
        assert_eq!(
            r.summary.denials,
            truth.denials_default_scope,
            "{}",
            d.display()
        );
    }
}

fn golden(name: &str, got: &str) {
    let path = repo().join("tests/data/golden").join(name);
    if std::env::var_os("DENYTRAIL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; regenerate with DENYTRAIL_BLESS=1", path.display()));
    assert!(
        want == got,
        "{} differs from the output; if the change is intended, regenerate with DENYTRAIL_BLESS=1 cargo test --release --test it golden\n--- got ---\n{got}",
        path.display()
    );
}

/// Golden reports, one per format, scope all: the report must not change
/// unnoticed. Summary fields that depend on the container (files, bytes)
/// are cleared before comparing.
#[test]
fn golden_reports_per_format() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "3",
        "1500",
        "0.06",
        &(CLOUDTRAIL_FORMATS.join(",") + ",text"),
    );
    for f in CLOUDTRAIL_FORMATS.iter().chain(["text"].iter()) {
        let mut r = replay(&["--scope", "all", dir.path().join(f).to_str().unwrap()]);
        r.summary.files = 0;
        r.summary.bytes = 0;
        r.summary.skipped_files.clear();
        golden(&format!("report-{f}.json"), &r.to_json());
    }
    let r = replay(&[dir.path().join("jsonl").to_str().unwrap()]);
    let mut table = r.clone();
    table.summary.files = 0;
    table.summary.bytes = 0;
    golden(
        "report-default.txt",
        &table.to_table(denytrail::report::DEFAULT_TOP),
    );
    golden(
        "report-default.md",
        &table.to_markdown(denytrail::report::DEFAULT_TOP),
    );
}

/// One golden hint per hint case, through `denytrail explain`.
#[test]
fn golden_hints() {
    let cases = std::fs::read_to_string(repo().join("tests/data/explain-cases.txt")).unwrap();
    let mut n = 0;
    for line in cases.lines() {
        let Some((name, msg)) = line.split_once('\t') else {
            continue;
        };
        let out = run(&["explain", msg]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        golden(
            &format!("explain/{name}.txt"),
            &String::from_utf8_lossy(&out.stdout),
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} cases");
}

/// Sharded replay: for several N, the N shard reports merged equal the
/// one-machine report, on every input format.
#[test]
fn merged_shards_equal_the_whole_on_every_format() {
    let dir = tempfile::tempdir().unwrap();
    // Small files so that every shard gets several; a high denial rate so
    // that cross-file duplicates land in different shards.
    let out = run(&[
        "generate",
        "--seed",
        "21",
        "--records",
        "2500",
        "--denial-rate",
        "0.1",
        "--formats",
        &(CLOUDTRAIL_FORMATS.join(",") + ",text"),
        "--records-per-file",
        "40",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    for f in CLOUDTRAIL_FORMATS.iter().chain(["text"].iter()) {
        let input = dir.path().join(f);
        let input = input.to_str().unwrap();
        let whole = replay(&["--scope", "all", input]);
        for n in [1u32, 2, 3, 5] {
            let merged = merged_shards(input, n, dir.path(), f);
            assert_eq!(merged.groups, whole.groups, "{f}, {n} shards");
            assert_eq!(merged.summary, whole.summary, "{f}, {n} shards");
        }
    }
}

/// `replay --shard I/N` of `input` for every I (reports named after `tag`
/// in `out`), then `merge` of them: the merged report.
fn merged_shards(input: &str, n: u32, out: &Path, tag: &str) -> Report {
    let mut paths = Vec::new();
    for i in 0..n {
        let p = out.join(format!("{tag}-shard-{i}-of-{n}.json"));
        let shard = format!("{i}/{n}");
        run_ok(&[
            "replay",
            "--quiet",
            "--scope",
            "all",
            "--format",
            "json",
            "--shard",
            &shard,
            "--output",
            p.to_str().unwrap(),
            input,
        ]);
        paths.push(p.to_string_lossy().into_owned());
    }
    let mut args = vec!["merge", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    serde_json::from_slice(&run_ok(&args).stdout).unwrap()
}

/// The law of one pipeline: the same input gives the same groups through
/// `replay`, through `watch`'s `/report` (following the files, and reading
/// stdin) and through `merge` of shard reports; field by field, with the
/// summary's counts. On every format the sidecar follows (plain line
/// formats: JSON Lines and text logs; it leaves gzip files alone as rotated
/// copies, and the generator's CloudWatch exports are gzip); merge is held
/// to the same on every format by
/// `merged_shards_equal_the_whole_on_every_format`.
#[test]
fn replay_watch_and_merge_give_the_same_groups() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "5", "20000", "0.05", "jsonl,text");
    for format in ["jsonl", "text"] {
        one_pipeline(dir.path(), format);
    }
}

fn one_pipeline(dir: &Path, format: &str) {
    let input = dir.join(format);
    // The text corpus keeps its truth beside the log; it is not input.
    let _ = std::fs::remove_file(input.join("truth.json"));
    let whole = replay(&["--scope", "all", input.to_str().unwrap()]);
    assert!(
        whole.groups.len() > 20,
        "{format}: {} groups",
        whole.groups.len()
    );
    if format != "text" {
        // Cross-account copies of one event are in the corpus: the lists
        // that differ between copies are the ones a second implementation
        // drops.
        assert!(
            whole.groups.iter().any(|g| g.accounts.len() > 1),
            "{format}"
        );
    }

    let same = |how: &str, got: &Report| {
        let how = format!("{format}, {how}");
        assert_eq!(got.groups.len(), whole.groups.len(), "{how}: group count");
        for (g, w) in got.groups.iter().zip(&whole.groups) {
            assert_eq!(g, w, "{how}: group {} {}", w.principal, w.action);
        }
        let (s, w) = (&got.summary, &whole.summary);
        assert_eq!(
            (
                s.records,
                s.denials,
                s.principals,
                s.groups,
                s.duplicates,
                s.out_of_scope
            ),
            (
                w.records,
                w.denials,
                w.principals,
                w.groups,
                w.duplicates,
                w.out_of_scope
            ),
            "{how}: summary"
        );
        assert_eq!(s.auth_failures, w.auth_failures, "{how}: auth failures");
    };
    // Every file replay reads (cw-export nests a directory per stream).
    let mut files: Vec<_> = walkdir::WalkDir::new(&input)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();

    // watch following the files from their start.
    let glob = format!("{}/**/*", input.display());
    let w = crate::watch::Watch::start(&["--file", &glob, "--from", "start", "--scope", "all"]);
    let got = until_all_read(&w, whole.summary.records);
    same("watch --file", &got);
    drop(w);

    // watch reading the same bytes on stdin.
    let mut w =
        crate::watch::Watch::start_with(&["--stdin", "--from", "start", "--scope", "all"], true);
    {
        use std::io::Write;
        let mut stdin = w.stdin.take().unwrap();
        for f in &files {
            stdin.write_all(&std::fs::read(f).unwrap()).unwrap();
        }
    }
    let got = until_all_read(&w, whole.summary.records);
    same("watch --stdin", &got);
    drop(w);

    // merge of three shard reports.
    let merged = merged_shards(input.to_str().unwrap(), 3, dir, &format!("{format}-law"));
    same("merge", &merged);
}

/// `/report` once the sidecar has read `records` records (bounded wait).
fn until_all_read(w: &crate::watch::Watch, records: u64) -> Report {
    crate::prom::eventually(
        std::time::Duration::from_secs(120),
        "watch to read every record",
        || {
            let (status, body) = w.get("/report")?;
            if status != 200 {
                return Err(format!("/report: {status}"));
            }
            let r: Report = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            if r.summary.records == records {
                Ok(r)
            } else {
                Err(format!(
                    "{} of {records} records\nlog:\n{}",
                    r.summary.records,
                    w.log()
                ))
            }
        },
    )
}

/// `merge` refuses a shard set that is not one whole run, naming the files:
/// a shard given twice, a missing shard, shards of different N, of
/// different inputs or time ranges, and an unknown report version (exit 1
/// each); the shard reports say which shard of which N they are, over
/// which inputs and range. A shard report of the previous version merges.
#[test]
fn merge_refuses_shard_sets_that_are_not_one_run() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "9", "600", "0.2", "jsonl,text");
    let jsonl = dir.path().join("jsonl").display().to_string();
    let text = dir.path().join("text").display().to_string();
    let shard = |input: &str, s: &str, extra: &[&str], name: &str| -> String {
        let p = dir.path().join(name).display().to_string();
        let mut args = vec![
            "replay", "--quiet", "--scope", "all", "--format", "json", "--shard", s, "--output", &p,
        ];
        args.extend_from_slice(extra);
        args.push(input);
        run_ok(&args);
        p
    };
    let s0 = shard(&jsonl, "0/2", &[], "s0.json");
    let s1 = shard(&jsonl, "1/2", &[], "s1.json");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s0).unwrap()).unwrap();
    assert_eq!(r["summary"]["shard"], "0/2");
    assert_eq!(r["shard_state"]["inputs"], serde_json::json!([jsonl]));
    assert_eq!(r["shard_state"]["range"], "all");
    let merge = |paths: &[&str]| {
        let mut args = vec!["merge", "--format", "json"];
        args.extend_from_slice(paths);
        let o = run(&args);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(merge(&[&s0, &s1]).0, Some(0));
    let refused = |paths: &[&str], says: &str| {
        let (code, err) = merge(paths);
        assert_eq!(code, Some(1), "{paths:?}: {err}");
        assert!(err.contains(says), "{paths:?}: {err}");
    };
    refused(&[&s0, &s0, &s1], "given twice");
    refused(&[&s0], "missing");
    let t1 = shard(&jsonl, "1/3", &[], "t1.json");
    refused(&[&s0, &t1], "t1.json");
    let other = shard(&text, "1/2", &[], "other.json");
    refused(&[&s0, &other], "inputs");
    let since = shard(
        &jsonl,
        "1/2",
        &["--since", "2024-05-01T00:00:00Z"],
        "since.json",
    );
    refused(&[&s0, &since], "time range");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s1).unwrap()).unwrap();
    v["version"] = serde_json::json!(999);
    let future = dir.path().join("future.json");
    std::fs::write(&future, v.to_string()).unwrap();
    refused(&[&s0, future.to_str().unwrap()], "999");
    v["version"] = serde_json::json!(0);
    std::fs::write(&future, v.to_string()).unwrap();
    refused(&[&s0, future.to_str().unwrap()], "versions 1 to");
    // A version 1 shard report, each hint whole in its text and its policy
    // documents, and no notes or policies tables, still merges, to the
    // same report: merge reads a report's summary and shard_state, which
    // version 2 left as they were.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s0).unwrap()).unwrap();
    assert!(old["groups"].as_array().is_some_and(|g| !g.is_empty()));
    let notes = old["notes"].take();
    let docs = old["policies"].take();
    assert!(docs.as_array().is_some_and(|d| !d.is_empty()));
    for g in old["groups"].as_array_mut().unwrap() {
        let h = &mut g["hint"];
        for k in ["policy", "resource_policy"] {
            h[k] = match h[k].as_u64() {
                Some(i) => docs[i as usize].clone(),
                None => serde_json::Value::Null,
            };
        }
        let mut text = h["text"].as_str().unwrap().to_string();
        for id in h["notes"].take().as_array().into_iter().flatten() {
            text.push('\n');
            text.push_str(notes[id.as_str().unwrap()].as_str().unwrap());
        }
        h["text"] = text.into();
        h.as_object_mut().unwrap().remove("notes");
    }
    old.as_object_mut().unwrap().remove("notes");
    old.as_object_mut().unwrap().remove("policies");
    old["version"] = serde_json::json!(1);
    let v1 = dir.path().join("v1.json");
    std::fs::write(&v1, old.to_string()).unwrap();
    let merged = |paths: &[&str]| {
        let mut args = vec!["merge", "--format", "json"];
        args.extend_from_slice(paths);
        run_ok(&args).stdout
    };
    assert_eq!(merged(&[v1.to_str().unwrap(), &s1]), merged(&[&s0, &s1]));
}
