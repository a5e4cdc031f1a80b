//! The recovery law, as a property: damage at byte k of an input loses at
//! most the record that holds k; every other record's denial is still found,
//! and a loss is never silent.
//!
//! Each case takes a generated corpus, damages it thousands of times (a byte
//! replaced, deleted or inserted: structural characters, quotes,
//! backslashes, NUL, anything), scans the damaged bytes in process, and
//! compares the denials found against the undamaged corpus's.

use std::collections::BTreeSet;

use denytrail::frame::{FrameEvent, RecordsFramer};
use denytrail::generate::{self, CorpusConfig};
use denytrail::scan::{ScanEvent, Scanner};
use denytrail::scope::{Scope, Selection};

/// A small deterministic generator (xorshift), so a failure is replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn config(seed: u64) -> CorpusConfig {
    CorpusConfig::builder()
        .seed(seed)
        .records(120)
        .denial_rate(0.3)
        .build()
        .unwrap()
}

fn scanner(chunk: usize) -> Scanner {
    Scanner::builder()
        .selection(Selection::new(Scope::All, Default::default()))
        .chunk(chunk)
        .build()
        .unwrap()
}

/// The eventIDs of the denials found, and how many errors were reported.
fn scan(s: &Scanner, bytes: &[u8]) -> (BTreeSet<String>, usize) {
    let (mut ids, mut errors) = (BTreeSet::new(), 0);
    s.scan_stream(bytes, "damaged", &mut |e| match e {
        ScanEvent::Denial(d) => {
            // A damaged eventID key leaves a denial with none: not one of
            // the undamaged corpus's.
            ids.insert(d.event_id.clone().unwrap_or_default());
        }
        ScanEvent::Error(_) => errors += 1,
        ScanEvent::AuthFailure(_) => {}
    });
    (ids, errors)
}

/// The eventID written in a record's bytes.
fn event_id(rec: &[u8]) -> Option<String> {
    let key = br#""eventID":""#;
    let at = memchr::memmem::find(rec, key)? + key.len();
    let len = memchr::memchr(b'"', &rec[at..])?;
    Some(String::from_utf8_lossy(&rec[at..at + len]).into_owned())
}

/// Byte ranges of the undamaged input's records.
type Spans = Vec<(usize, usize)>;

fn records_spans(doc: &[u8]) -> Spans {
    let mut spans = Vec::new();
    RecordsFramer::new().feed(doc, 0, &mut |e| {
        if let FrameEvent::Record { start, end } = e {
            spans.push((start, end));
        }
    });
    spans
}

fn line_spans(doc: &[u8]) -> Spans {
    let mut spans = Vec::new();
    let mut at = 0;
    for line in doc.split_inclusive(|&c| c == b'\n') {
        spans.push((at, at + line.len()));
        at += line.len();
    }
    spans
}

/// Damage `doc` once: the damaged bytes and the range of original bytes the
/// damage touches (an insertion touches the bytes on both sides of it).
fn damage(rng: &mut Rng, doc: &[u8]) -> (Vec<u8>, usize, usize) {
    const BYTES: &[u8] = b"{}[]\",:\\\n\0 a\xff";
    let k = rng.below(doc.len());
    let b = if rng.below(4) == 0 {
        rng.next() as u8
    } else {
        BYTES[rng.below(BYTES.len())]
    };
    let mut d = doc.to_vec();
    match rng.below(3) {
        0 => {
            d[k] = b;
            (d, k, k)
        }
        1 => {
            d.remove(k);
            (d, k, k)
        }
        _ => {
            d.insert(k, b);
            (d, k.saturating_sub(1), k)
        }
    }
}

/// Run `cases` damages of `doc` through scanners of a few chunk sizes and
/// check the law on each.
fn law(doc: &[u8], spans: &Spans, cases: usize, seed: u64) {
    let all = scanner(64 << 10);
    let (want, errors) = scan(&all, doc);
    assert_eq!(errors, 0, "the undamaged corpus scans clean");
    assert!(want.len() > 20, "a corpus with denials: {}", want.len());
    let scanners = [all, scanner(4096), scanner(1000)];
    let mut rng = Rng(seed);
    let mut silent_ok = 0;
    for case in 0..cases {
        let (damaged, lo, hi) = damage(&mut rng, doc);
        // The records the damage touches may be lost, no other.
        let may_lose: BTreeSet<String> = spans
            .iter()
            .filter(|(s, e)| *s <= hi && lo < *e)
            .filter_map(|(s, e)| event_id(&doc[*s..*e]))
            .collect();
        let s = &scanners[case % scanners.len()];
        let (got, errors) = scan(s, &damaged);
        let lost: BTreeSet<&String> = want.difference(&got).collect();
        let unexplained: Vec<&&String> =
            lost.iter().filter(|id| !may_lose.contains(**id)).collect();
        assert!(
            unexplained.is_empty(),
            "case {case}: damage at {lo}..={hi} ({:?} → {:?}) lost {} denials it did not touch: {unexplained:?}",
            String::from_utf8_lossy(&doc[lo.saturating_sub(8)..(hi + 8).min(doc.len())]),
            String::from_utf8_lossy(&damaged[lo.saturating_sub(8)..(hi + 8).min(damaged.len())]),
            unexplained.len(),
        );
        // A loss is reported, unless the damage left valid JSON that says
        // something else (a letter of the error code changed): no reader
        // can tell that from the record itself.
        // A record split in two by a damaged newline may be read as a text
        // line: its denial is then counted, without its eventID.
        let as_text = got.contains("");
        if !lost.is_empty() && errors == 0 && !as_text {
            let (s, e) = spans
                .iter()
                .copied()
                .find(|(s, e)| *s <= hi && lo < *e)
                .expect("a loss is in a record");
            let e = (e + damaged.len())
                .saturating_sub(doc.len())
                .min(damaged.len());
            let rec = damaged[s..e].trim_ascii();
            assert!(
                serde_json::from_slice::<serde_json::Value>(rec).is_ok(),
                "case {case}: damage at {lo} lost {lost:?} without an error: {}",
                String::from_utf8_lossy(rec)
            );
        }
        if lost.is_empty() && errors == 0 {
            silent_ok += 1;
        }
    }
    // Most damages are in a record's text and harmless or reported; the
    // property must have seen both kinds.
    assert!(silent_ok < cases, "no damage was ever noticed");
}

#[test]
fn damage_in_a_records_document_loses_at_most_its_record() {
    let mut doc = Vec::new();
    generate::write_records_document(&config(21), &mut doc).unwrap();
    let spans = records_spans(&doc);
    assert_eq!(spans.len(), 120);
    law(&doc, &spans, 5000, 0x5eed_0001);
}

#[test]
fn damage_in_json_lines_loses_at_most_its_line() {
    let mut doc = Vec::new();
    generate::write_jsonl(&config(22), &mut doc).unwrap();
    let spans = line_spans(&doc);
    law(&doc, &spans, 5000, 0x5eed_0002);
}

/// The shapes the issue measured, each one a case.
#[test]
fn records_documents_resynchronise() {
    let mut doc = Vec::new();
    generate::write_records_document(&config(23), &mut doc).unwrap();
    let s = scanner(64 << 10);
    let (want, _) = scan(&s, &doc);
    let spans = records_spans(&doc);

    // `},{"eventVersion"` → `},""eventVersion"` a quarter in: one record
    // lost, reported.
    let (s4, _) = spans[spans.len() / 4];
    let mut d = doc.clone();
    d[s4] = b'"';
    let (got, errors) = scan(&s, &d);
    let lost = want.difference(&got).count();
    assert!(lost <= 1, "lost {lost}");
    assert!(errors >= 1);

    // JSON Lines (or a text log) after a Records document is read too.
    let mut lines = Vec::new();
    generate::write_jsonl(&config(24), &mut lines).unwrap();
    let (line_ids, _) = scan(&s, &lines);
    for first in [&b"{\"Records\":[]}\n"[..], &doc[..]] {
        let mut both = first.to_vec();
        both.extend_from_slice(&lines);
        let (got, errors) = scan(&s, &both);
        assert!(line_ids.is_subset(&got), "the lines after the document");
        assert_eq!(errors, 0);
    }

    // Garbage after the document is reported.
    let mut d = doc.clone();
    d.extend_from_slice(b"\x01garbage");
    let (got, errors) = scan(&s, &d);
    assert_eq!(got, want);
    assert!(errors >= 1);

    // An opening alone, or a document cut between records: reported.
    for cut in [&b"{\"Records\":"[..], &doc[..spans[3].1 + 1]] {
        let (_, errors) = scan(&s, cut);
        assert_eq!(
            errors,
            1,
            "{:?}",
            String::from_utf8_lossy(&cut[..cut.len().min(40)])
        );
    }
}

/// A lookup-events page cut anywhere, or a subscription payload with a
/// broken document among whole ones, keeps every whole record.
#[test]
fn damaged_pages_keep_their_whole_records() {
    let mut lines = Vec::new();
    generate::write_jsonl(&config(25), &mut lines).unwrap();
    let recs: Vec<&[u8]> = lines
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let s = scanner(64 << 10);
    let (want, _) = scan(&s, &lines);
    let events: Vec<String> = recs
        .iter()
        .map(|r| {
            let lit = serde_json::to_string(std::str::from_utf8(r).unwrap()).unwrap();
            format!(r#"{{"EventId":"x","CloudTrailEvent":{lit}}}"#)
        })
        .collect();
    let page = format!(r#"{{"Events":[{}]}}"#, events.join(","));
    let (got, errors) = scan(&s, page.as_bytes());
    assert_eq!((got.len(), errors), (want.len(), 0));
    // Cut at 90%: every event before the cut is kept.
    let cut = &page.as_bytes()[..page.len() * 9 / 10];
    let whole = events
        .iter()
        .scan(r#"{"Events":["#.len(), |at, e| {
            *at += e.len() + 1;
            Some(*at <= cut.len())
        })
        .filter(|w| *w)
        .count();
    let (got, errors) = scan(&s, cut);
    let kept_whole: BTreeSet<String> = recs[..whole].iter().filter_map(|r| event_id(r)).collect();
    let expected: BTreeSet<String> = want.intersection(&kept_whole).cloned().collect();
    assert!(
        expected.is_subset(&got),
        "{} of {}",
        got.len(),
        expected.len()
    );
    assert!(errors >= 1);

    // Subscription payloads: the second of six damaged.
    let payloads: Vec<String> = recs
        .chunks(recs.len().div_ceil(6))
        .map(|c| {
            let evs: Vec<String> = c
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let lit = serde_json::to_string(std::str::from_utf8(r).unwrap()).unwrap();
                    format!(r#"{{"id":"{i}","timestamp":1,"message":{lit}}}"#)
                })
                .collect();
            format!(
                r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":[{}]}}"#,
                evs.join(",")
            )
        })
        .collect();
    let mut damaged = payloads.clone();
    let mid = damaged[1].len() / 2;
    damaged[1].replace_range(mid..mid + 1, "\u{1}");
    let (got, errors) = scan(&s, damaged.concat().as_bytes());
    let second: BTreeSet<String> = recs
        .chunks(recs.len().div_ceil(6))
        .nth(1)
        .unwrap()
        .iter()
        .filter_map(|r| event_id(r))
        .collect();
    let lost: Vec<&String> = want.difference(&got).collect();
    assert!(lost.len() <= 1, "lost {lost:?}");
    assert!(lost.iter().all(|id| second.contains(*id)));
    assert!(errors >= 1);
}

/// A record nested far past the framer's depth cap costs one error and
/// constant work; every other record is kept.
#[test]
fn a_deeply_nested_record_is_one_error() {
    let mut lines = Vec::new();
    generate::write_jsonl(&config(26), &mut lines).unwrap();
    let recs: Vec<&[u8]> = lines
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let s = scanner(4096);
    let (want, _) = scan(&s, &lines);
    let deep = format!(
        r#"{{"eventVersion":"1.08","x":{}{}}}"#,
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let mut doc = b"{\"Records\":[".to_vec();
    for (i, r) in recs.iter().enumerate() {
        if i == recs.len() / 2 {
            doc.extend_from_slice(deep.as_bytes());
            doc.push(b',');
        }
        doc.extend_from_slice(r);
        doc.push(if i + 1 == recs.len() { b']' } else { b',' });
    }
    doc.push(b'}');
    let (got, errors) = scan(&s, &doc);
    assert_eq!(got, want);
    assert_eq!(errors, 1);
}

/// Gzip members (as Firehose writes subscription payloads): damage in the
/// second of six loses only what cannot be inflated of it.
#[test]
fn a_damaged_gzip_member_loses_only_itself() {
    use std::io::Write;
    let mut lines = Vec::new();
    generate::write_jsonl(&config(27), &mut lines).unwrap();
    let s = scanner(64 << 10);
    let (want, _) = scan(&s, &lines);
    let recs: Vec<&[u8]> = lines.split_inclusive(|&c| c == b'\n').collect();
    let parts: Vec<Vec<u8>> = recs
        .chunks(recs.len().div_ceil(6))
        .map(|c| c.concat())
        .collect();
    let mut z = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(p).unwrap();
        let mut m = e.finish().unwrap();
        if i == 1 {
            let k = m.len() / 2;
            m[k] ^= 0x5a;
        }
        z.extend(m);
        if i == 3 {
            z.extend_from_slice(b"junk between members");
        }
    }
    let (got, errors) = scan(&s, &z);
    let second: BTreeSet<String> = parts[1]
        .split(|&c| c == b'\n')
        .filter_map(event_id)
        .collect();
    let lost: Vec<&String> = want.difference(&got).collect();
    assert!(lost.iter().all(|id| second.contains(*id)), "lost {lost:?}");
    assert!(
        lost.len() < second.len().max(1),
        "kept some of the damaged member too: lost {}",
        lost.len()
    );
    assert!(errors >= 2, "the damage and the junk: {errors}");
}
