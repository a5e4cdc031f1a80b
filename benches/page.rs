//! Rendering the HTML page (`denytrail::page::render`) of a large report:
//! 10 000 principal/action groups, each from one CloudTrail denial made
//! in memory, so the page holds its cap of rows (`page::MAX_ROWS`) with
//! every detail. Asserts the row count, so a wrong page fails rather than
//! looking fast.
//!
//! ```sh
//! cargo bench --bench page
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use denytrail::aggregate::Aggregator;
use denytrail::page::{self, PageOptions};
use denytrail::report::{Report, Run};
use denytrail::scan::{ScanEvent, Scanner};

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

criterion_group!(benches, bench);
criterion_main!(benches);
