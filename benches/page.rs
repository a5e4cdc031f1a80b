//! Rendering a large report: the HTML page (`denytrail::page::render`)
//! of 10 000 principal/action groups, each from one CloudTrail denial made
//! in memory, so the page holds its cap of rows (`page::MAX_ROWS`) with
//! every detail; and the JSON report (`Run::write_json`, hints included)
//! of the groups of a generated corpus with many principals (30 %
//! denials, as `benches/compare.sh --groups`). Each asserts what it made
//! (the row count, the group count), so a wrong result fails rather than
//! looking fast.
//!
//! ```sh
//! cargo bench --bench page                 # both
//! cargo bench --bench page -- report       # the JSON report only
//! ```

use std::hint::black_box;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use denytrail::aggregate::Aggregator;
use denytrail::generate::{CorpusConfig, write_jsonl};
use denytrail::page::{self, PageOptions};
use denytrail::report::{Report, Run};
use denytrail::scan::{ScanEvent, Scanner};
use denytrail::scope::Scope;

const GROUPS: usize = 10_000;

fn big_report() -> Report {
    let mut text = String::new();
    for i in 0..GROUPS {
        let role = format!("svc-role-{i:05}");
        let arn = format!("arn:aws:iam::123456789012:role/{role}");
        let sess = format!("arn:aws:sts::123456789012:assumed-role/{role}/s{i}");
        let rec = serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "arn": sess, "accountId": "123456789012",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": arn, "accountId": "123456789012"}}},
            "eventTime": format!("2024-05-01T{:02}:{:02}:00Z", (i / 600) % 24, (i / 10) % 60),
            "eventSource": "iam.amazonaws.com",
            "eventName": "PassRole",
            "awsRegion": "us-east-1",
            "errorCode": "AccessDenied",
            "errorMessage": format!("User: {sess} is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/x{i} because no identity-based policy allows the iam:PassRole action"),
            "eventID": format!("id-{i}"),
            "recipientAccountId": "123456789012",
        });
        text += &format!("{rec}\n");
    }
    let scanner = Scanner::builder().build().expect("scanner");
    let mut agg = Aggregator::builder().build();
    scanner.scan_lines(text.as_bytes(), "bench", 0, &mut |ev| {
        if let ScanEvent::Denial(d) = ev {
            agg.add(&d);
        }
    });
    let r = Run::new(agg.finish(), "default".into(), None).report();
    assert_eq!(r.groups.len(), GROUPS);
    r
}

/// Records of the generated corpus the JSON bench reports on: 30 %
/// denials over 10 000 principals give about 26 600 groups.
const RECORDS: u64 = 200_000;

/// The groups of the corpus, and how many the generator meant.
fn many_groups() -> (Run, usize) {
    let cfg = CorpusConfig::builder()
        .seed(9)
        .records(RECORDS)
        .denial_rate(0.3)
        .principals(10_000)
        .build()
        .expect("corpus settings");
    let mut text = Vec::new();
    let truth = write_jsonl(&cfg, &mut text).expect("corpus");
    let scanner = Scanner::builder()
        .scope(Scope::All)
        .build()
        .expect("scanner");
    let mut agg = Aggregator::builder().build();
    scanner.scan_lines(&text, "bench", 0, &mut |ev| {
        if let ScanEvent::Denial(d) = ev {
            agg.add(&d);
        }
    });
    (
        Run::new(agg.finish(), "all".into(), None),
        truth.groups_all.len(),
    )
}

fn report_json(c: &mut Criterion) {
    let (run, groups) = many_groups();
    assert_eq!(run.groups.len(), groups);
    let mut out = Vec::new();
    run.write_json(&mut out).expect("write");
    let report: Report = serde_json::from_slice(&out).expect("a report");
    assert_eq!(report.groups.len(), groups);
    eprintln!(
        "JSON report of {groups} groups: {} bytes, {} per group",
        out.len(),
        out.len() / groups
    );
    let mut g = c.benchmark_group("denytrail::report");
    g.throughput(Throughput::Elements(groups as u64));
    g.measurement_time(Duration::from_secs(10));
    g.sample_size(10);
    g.bench_function("write_json", |b| {
        b.iter(|| {
            out.clear();
            run.write_json(black_box(&mut out)).expect("write");
            out.len()
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let report = big_report();
    let opts = PageOptions::file();
    let html = page::render(&report, &opts).expect("render");
    assert_eq!(
        html.matches("<tbody class=\"group\"").count(),
        page::MAX_ROWS + 1, // the rows and the script's model row
    );
    eprintln!("page of {GROUPS} groups: {} bytes", html.len());
    let mut g = c.benchmark_group("page");
    g.throughput(Throughput::Bytes(html.len() as u64));
    g.measurement_time(Duration::from_secs(10));
    g.sample_size(20);
    g.bench_function("render_10k_groups", |b| {
        b.iter(|| page::render(black_box(&report), &opts).expect("render"))
    });
    g.finish();
}

criterion_group!(benches, bench, report_json);
criterion_main!(benches);
