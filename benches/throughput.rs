//! Throughput of each scanning stage, over a corpus made in memory by the
//! project's generator (20 000 CloudTrail records of about 1.2 KB, 1 %
//! denials, seed 7), in bytes per second.
//!
//! Groups are named by module path; each bench asserts the count it
//! expects, so a wrong answer fails rather than looking fast. Baselines sit
//! beside the real thing: `serde_json` on every record (what a naive tool
//! does), `memchr::memmem` for one needle (the fastest a single literal
//! scan can be), aho-corasick over all 35 classifier strings (what the
//! prefilter's marker cover replaces), and flate2's streaming zlib-rs
//! inflate (what libdeflate replaces for archive-sized files).
//!
//! `denytrail::per-denial` is the expensive path alone, in denials per
//! second (criterion prints the time per element: ns per denial): a
//! corpus of 20 000 records at 30 % denials over 2 000 principals, each
//! denial record classified, then classified and aggregated, then the
//! whole JSON Lines pass (prefilter, frame, parse, classify) with the
//! aggregate, against `serde_json::Value` on the same denial records.
//!
//! ```sh
//! cargo bench --bench throughput                 # everything, ~2 minutes
//! cargo bench --bench throughput -- per-denial   # ns per denial
//! cargo bench --bench throughput -- prefilter    # one group
//! ```

use std::hint::black_box;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{Read, Write};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use denytrail::aggregate::Aggregator;
use denytrail::classify::{self, Denial, Outcome, RecordKind};
use denytrail::decode::Decoded;
use denytrail::frame::{FrameEvent, RecordsFramer, line_record};
use denytrail::generate::{CorpusConfig, Generator, RecordClass};
use denytrail::prefilter::Prefilter;
use denytrail::scan::{ScanEvent, Scanner};
use denytrail::scope::Scope;

/// The corpus every group reads, built once.
struct Corpus {
    /// JSON Lines, one record per line.
    jsonl: Vec<u8>,
    /// The same records as one `{"Records":[…]}` document (no Insight
    /// records: real archives keep those in files of their own).
    records_doc: Vec<u8>,
    /// The Records document cut into CloudTrail-sized gzip files of 500
    /// records each.
    gz_files: Vec<Vec<u8>>,
    /// Their inflated size, all together.
    gz_inflated: usize,
    /// Records in `jsonl`.
    lines: u64,
    /// Records in `records_doc`.
    records: u64,
    /// Records the classifier calls denials or authentication failures.
    findings: u64,
    /// Lines the prefilter passes.
    candidates: u64,
    /// Lines containing `AccessDenied`.
    access_denied_lines: u64,
    /// The denials, for the aggregation bench.
    denials: Vec<Denial>,
    /// Distinct denials, as the generator meant them.
    distinct_denials: u64,
}

fn corpus() -> Corpus {
    let cfg = CorpusConfig::builder()
        .seed(7)
        .records(20_000)
        .denial_rate(0.01)
        .build()
        .expect("valid corpus settings");
    let p = Prefilter::new();
    let mut c = Corpus {
        jsonl: Vec::new(),
        records_doc: b"{\"Records\":[".to_vec(),
        gz_files: Vec::new(),
        gz_inflated: 0,
        lines: 0,
        records: 0,
        findings: 0,
        candidates: 0,
        access_denied_lines: 0,
        denials: Vec::new(),
        distinct_denials: 0,
    };
    let mut file: Vec<&[u8]> = Vec::new();
    let recs: Vec<_> = Generator::new(&cfg).collect();
    for r in &recs {
        c.jsonl.extend_from_slice(&r.json);
        c.jsonl.push(b'\n');
        c.lines += 1;
        c.candidates += u64::from(p.is_candidate(&r.json));
        c.access_denied_lines +=
            u64::from(memchr::memmem::find(&r.json, b"AccessDenied").is_some());
        match classify::classify(&r.json, RecordKind::CloudTrailJson) {
            Ok(Outcome::Denial(d)) => {
                c.findings += 1;
                c.denials.push(*d);
            }
            Ok(Outcome::AuthFailure(_)) => c.findings += 1,
            _ => {}
        }
        c.distinct_denials += u64::from(r.truth.class == RecordClass::Denial);
        if r.truth.class == RecordClass::Insight {
            continue;
        }
        if c.records > 0 {
            c.records_doc.push(b',');
        }
        c.records_doc.extend_from_slice(&r.json);
        c.records += 1;
        file.push(&r.json);
        if file.len() == 500 {
            c.gz_inflated += gzip_records(&file, &mut c.gz_files);
            file.clear();
        }
    }
    if !file.is_empty() {
        c.gz_inflated += gzip_records(&file, &mut c.gz_files);
    }
    c.records_doc.extend_from_slice(b"]}");
    c
}

/// Gzip one CloudTrail file of `recs` onto `files`; returns its inflated
/// size.
fn gzip_records(recs: &[&[u8]], files: &mut Vec<Vec<u8>>) -> usize {
    let mut doc = b"{\"Records\":[".to_vec();
    for (i, r) in recs.iter().enumerate() {
        if i > 0 {
            doc.push(b',');
        }
        doc.extend_from_slice(r);
    }
    doc.extend_from_slice(b"]}");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&doc).expect("in memory");
    files.push(e.finish().expect("in memory"));
    doc.len()
}

fn group<'a>(c: &'a mut Criterion, name: &str, bytes: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g
}

/// Count the lines holding a match, the way `Scanner::scan_lines` walks:
/// find, skip to the end of the line, find again.
fn count_lines_with(hay: &[u8], mut find: impl FnMut(&[u8], usize) -> Option<usize>) -> u64 {
    let (mut pos, mut n) = (0, 0);
    while let Some(hit) = find(hay, pos) {
        n += 1;
        pos = memchr::memchr(b'\n', &hay[hit..]).map_or(hay.len(), |i| hit + i + 1);
    }
    n
}

fn prefilter(c: &mut Criterion, k: &Corpus) {
    let mut g = group(c, "denytrail::prefilter", k.jsonl.len());
    let p = Prefilter::new();
    g.bench_function("markers", |b| {
        b.iter(|| {
            let n = count_lines_with(&k.jsonl, |h, from| p.find_from(h, from));
            assert_eq!(n, k.candidates);
            n
        })
    });
    let all = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(classify::markers())
        .expect("literals");
    g.bench_function("baseline/aho-corasick-all-35-codes", |b| {
        b.iter(|| {
            let n = count_lines_with(&k.jsonl, |h, from| {
                all.find(aho_corasick::Input::new(h).span(from..h.len()))
                    .map(|m| m.start())
            });
            assert_eq!(n, k.candidates);
            n
        })
    });
    let one = memchr::memmem::Finder::new("AccessDenied");
    g.bench_function("baseline/memmem-AccessDenied", |b| {
        b.iter(|| {
            let n = count_lines_with(&k.jsonl, |h, from| one.find(&h[from..]).map(|i| from + i));
            assert_eq!(n, k.access_denied_lines);
            n
        })
    });
    g.finish();
}

fn frame(c: &mut Criterion, k: &Corpus) {
    let mut g = group(c, "denytrail::frame/lines", k.jsonl.len());
    g.bench_function("count-lines", |b| {
        b.iter(|| {
            let n = memchr::memchr_iter(b'\n', black_box(&k.jsonl)).count() as u64;
            assert_eq!(n, k.lines);
            n
        })
    });
    g.bench_function("line_record-every-line", |b| {
        b.iter(|| {
            let n = k
                .jsonl
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| line_record(l).0.len())
                .filter(|&n| n > 0)
                .count() as u64;
            assert_eq!(n, k.lines);
            n
        })
    });
    g.finish();

    let mut g = group(c, "denytrail::frame/records-array", k.records_doc.len());
    g.bench_function("RecordsFramer", |b| {
        b.iter(|| {
            let mut n = 0u64;
            RecordsFramer::new().feed(black_box(&k.records_doc), 0, &mut |e| {
                n += u64::from(matches!(e, FrameEvent::Record { .. }))
            });
            assert_eq!(n, k.records);
            n
        })
    });
    g.bench_function("baseline/serde_json-RawValue-array", |b| {
        #[derive(serde::Deserialize)]
        struct Doc<'a> {
            #[serde(rename = "Records", borrow)]
            records: Vec<&'a serde_json::value::RawValue>,
        }
        b.iter(|| {
            let d: Doc = serde_json::from_slice(black_box(&k.records_doc)).expect("valid");
            assert_eq!(d.records.len() as u64, k.records);
            d.records.len()
        })
    });
    g.finish();
}

/// Does the classifier report this record (a denial or an authentication
/// failure)?
fn is_finding(rec: &[u8]) -> bool {
    matches!(
        classify::classify(rec, RecordKind::CloudTrailJson),
        Ok(Outcome::Denial(_) | Outcome::AuthFailure(_))
    )
}

fn parse(c: &mut Criterion, k: &Corpus) {
    let lines: Vec<&[u8]> = k
        .jsonl
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let p = Prefilter::new();
    let mut g = group(c, "denytrail::classify", k.jsonl.len());
    g.bench_function("prefiltered-candidates", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for l in &lines {
                if p.is_candidate(l) {
                    n += u64::from(is_finding(l));
                }
            }
            assert_eq!(n, k.findings);
            n
        })
    });
    g.bench_function("every-record", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for l in &lines {
                n += u64::from(is_finding(l));
            }
            assert_eq!(n, k.findings);
            n
        })
    });
    g.bench_function("baseline/serde_json-Value-every-record", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for l in &lines {
                let v: serde_json::Value = serde_json::from_slice(l).expect("valid");
                n += u64::from(v.get("errorCode").is_some());
            }
            assert!(n >= k.findings);
            n
        })
    });
    g.finish();
}

fn aggregate(c: &mut Criterion, k: &Corpus) {
    let mut g = c.benchmark_group("denytrail::aggregate");
    g.throughput(Throughput::Elements(k.denials.len() as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(2));
    g.bench_function("Aggregator::add", |b| {
        b.iter(|| {
            let mut a = Aggregator::builder().build();
            for d in &k.denials {
                a.add(d);
            }
            assert_eq!(a.denials() + a.duplicates(), k.denials.len() as u64);
            assert_eq!(a.denials(), k.distinct_denials);
            a.groups().count()
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion, k: &Corpus) {
    let inflated = k.gz_inflated;
    let total = |f: &mut dyn FnMut(&[u8]) -> usize| k.gz_files.iter().map(|z| f(z)).sum::<usize>();
    let mut g = group(c, "denytrail::decode", inflated);
    g.bench_function("Decoded-libdeflate-whole", |b| {
        b.iter(|| {
            let n = total(&mut |z| {
                let mut d = Decoded::new(z, u64::MAX).expect("in memory");
                d.take_whole().expect("archive-sized").len()
            });
            assert_eq!(n, inflated);
            n
        })
    });
    g.bench_function("baseline/flate2-zlib-rs-streaming", |b| {
        let mut buf = vec![0u8; 4 << 20];
        b.iter(|| {
            let n = total(&mut |z| {
                let mut d = flate2::read::MultiGzDecoder::new(z);
                let mut n = 0;
                loop {
                    match d.read(&mut buf).expect("valid gzip") {
                        0 => break n,
                        k => n += k,
                    }
                }
            });
            assert_eq!(n, inflated);
            n
        })
    });
    g.finish();
}

fn scan(c: &mut Criterion, k: &Corpus) {
    let s = Scanner::builder()
        .scope(Scope::parse("all").expect("valid scope"))
        .build()
        .expect("valid settings");
    let count = |e: ScanEvent, n: &mut u64| {
        *n += u64::from(matches!(
            e,
            ScanEvent::Denial(_) | ScanEvent::AuthFailure(_)
        ))
    };
    let mut g = group(c, "denytrail::scan/jsonl", k.jsonl.len());
    g.bench_function("Scanner::scan_lines", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let st = s.scan_lines(&k.jsonl, "bench", 0, &mut |e| count(e, &mut n));
            assert_eq!((st.records, n), (k.lines, k.findings));
            n
        })
    });
    g.bench_function("Scanner::scan_stream", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let st = s.scan_stream(&k.jsonl[..], "bench", &mut |e| count(e, &mut n));
            assert_eq!((st.stats.records, n), (k.lines, k.findings));
            n
        })
    });
    g.finish();

    let mut g = group(c, "denytrail::scan/records-array", k.records_doc.len());
    g.bench_function("Scanner::scan_stream", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let st = s.scan_stream(&k.records_doc[..], "bench", &mut |e| count(e, &mut n));
            assert_eq!(st.stats.records, k.records);
            n
        })
    });
    g.finish();

    let mut g = group(c, "denytrail::scan/records-gz", k.gz_inflated);
    g.bench_function("Scanner::scan_stream", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut records = 0;
            for z in &k.gz_files {
                let st = s.scan_stream(&z[..], "bench", &mut |e| count(e, &mut n));
                records += st.stats.records;
            }
            assert_eq!(records, k.records);
            n
        })
    });
    g.finish();
}

/// The expensive path: what one denial costs from its record's bytes to its
/// group (see the module comment).
fn per_denial(c: &mut Criterion) {
    let cfg = CorpusConfig::builder()
        .seed(11)
        .records(20_000)
        .denial_rate(0.3)
        .principals(2_000)
        .build()
        .expect("valid corpus settings");
    let recs: Vec<_> = Generator::new(&cfg).collect();
    let mut jsonl = Vec::new();
    let mut denial_recs: Vec<&[u8]> = Vec::new();
    for r in &recs {
        jsonl.extend_from_slice(&r.json);
        jsonl.push(b'\n');
        if matches!(
            classify::classify(&r.json, RecordKind::CloudTrailJson),
            Ok(Outcome::Denial(_))
        ) {
            denial_recs.push(&r.json);
        }
    }
    let n = denial_recs.len() as u64;
    assert!(n > 5_000, "{n} denial records");
    let mut g = c.benchmark_group("denytrail::per-denial");
    g.throughput(Throughput::Elements(n))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("classify", |b| {
        b.iter(|| {
            let mut k = 0u64;
            for r in &denial_recs {
                k += u64::from(matches!(
                    classify::classify(r, RecordKind::CloudTrailJson),
                    Ok(Outcome::Denial(_))
                ));
            }
            assert_eq!(k, n);
            k
        })
    });
    g.bench_function("classify+aggregate", |b| {
        b.iter(|| {
            let mut a = Aggregator::builder().build();
            for r in &denial_recs {
                if let Ok(Outcome::Denial(d)) = classify::classify(r, RecordKind::CloudTrailJson) {
                    a.add(&d);
                }
            }
            assert_eq!(a.denials() + a.duplicates(), n);
            a.groups().count()
        })
    });
    let s = Scanner::builder()
        .scope(Scope::parse("all").expect("valid scope"))
        .build()
        .expect("valid settings");
    g.bench_function("scan-jsonl+aggregate", |b| {
        b.iter(|| {
            let mut a = Aggregator::builder().build();
            s.scan_lines(&jsonl, "bench", 0, &mut |e| {
                if let ScanEvent::Denial(d) = e {
                    a.add(&d);
                }
            });
            assert_eq!(a.denials() + a.duplicates(), n);
            a.groups().count()
        })
    });
    g.bench_function("baseline/serde_json-Value", |b| {
        b.iter(|| {
            let mut k = 0u64;
            for r in &denial_recs {
                let v: serde_json::Value = serde_json::from_slice(r).expect("valid");
                k += u64::from(v.get("errorCode").is_some());
            }
            assert_eq!(k, n);
            k
        })
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    let k = corpus();
    prefilter(c, &k);
    frame(c, &k);
    parse(c, &k);
    aggregate(c, &k);
    decode(c, &k);
    scan(c, &k);
    per_denial(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
