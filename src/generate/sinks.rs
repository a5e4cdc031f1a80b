//! Writers that lay the same record stream out as each input format:
//! CloudTrail S3 archive files, JSON Lines, `aws cloudtrail lookup-events`
//! output, CloudWatch Logs export files and CloudWatch Logs subscription
//! (Firehose) objects.
//!
//! Each writer keeps at most a bounded buffer per log stream, so corpora of
//! any size are written in bounded memory. Writers draw their file names and
//! ids from their own random stream, so the records are the same whatever
//! formats are asked for.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;

use super::GenerateError;
use super::cloudtrail::GeneratedRecord;
use super::json::{JsonBuf, civil, compact_minute, date_path, escape_bytes_into, push_iso8601};
use super::random::Rand;
use super::truth::RecordClass;

/// The account the Insight and Digest files belong to (the first account).
pub(crate) const HOME_ACCOUNT: &str = "123456789012";
/// Flush every buffer when this many bytes are held.
const BUFFER_CAP: usize = 64 << 20;
/// CloudTrail writes a file per account and region every 5 minutes.
const WINDOW_MS: i64 = 300_000;

/// A format writer fed one record at a time.
pub(crate) trait Sink {
    /// Take one record.
    fn write(&mut self, rec: &GeneratedRecord) -> Result<(), GenerateError>;
    /// Flush what is buffered and close the files.
    fn finish(self: Box<Self>) -> Result<(), GenerateError>;
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Create `path` (and its parent directories) for buffered writing.
pub(crate) fn create(path: &Path) -> Result<BufWriter<File>, GenerateError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let f = File::create(path).map_err(io_err(path))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

/// Write `bytes` to `path`, creating parent directories.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), GenerateError> {
    let mut w = create(path)?;
    w.write_all(bytes).map_err(io_err(path))?;
    w.flush().map_err(io_err(path))
}

/// Gzip `bytes` as one member (default level, mtime 0: reproducible).
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 6 + 64),
        Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

// ----- CloudTrail S3 archive -------------------------------------------------

#[derive(Debug)]
struct TrailFile {
    window: i64,
    body: Vec<u8>,
    count: usize,
}

/// `AWSLogs/ACCT/CloudTrail/REGION/YYYY/MM/DD/ACCT_CloudTrail_REGION_…json[.gz]`
/// files of `{"Records":[…]}`, plus one Insight file and one Digest file.
pub(crate) struct RecordsSink {
    root: PathBuf,
    gz: bool,
    per_file: usize,
    files: BTreeMap<(Arc<str>, &'static str), TrailFile>,
    buffered: usize,
    r: Rand,
    digest_list: Vec<(String, i64)>,
    insight: Vec<u8>,
    insight_time: Option<i64>,
    first_ms: Option<i64>,
    last_ms: i64,
}

impl RecordsSink {
    pub(crate) fn new(root: PathBuf, gz: bool, per_file: usize, seed: u64) -> RecordsSink {
        RecordsSink {
            root,
            gz,
            per_file,
            files: BTreeMap::new(),
            buffered: 0,
            r: Rand::new(seed, if gz { 0x7261 } else { 0x7262 }),
            digest_list: Vec::new(),
            insight: Vec::new(),
            insight_time: None,
            first_ms: None,
            last_ms: 0,
        }
    }

    fn ext(&self) -> &'static str {
        if self.gz { "json.gz" } else { "json" }
    }

    fn put(&mut self, rel: &str, doc: &[u8]) -> Result<(), GenerateError> {
        let path = self.root.join(rel);
        if self.gz {
            write_file(&path, &gzip(doc))
        } else {
            write_file(&path, doc)
        }
    }

    fn flush_one(
        &mut self,
        key: &(Arc<str>, &'static str),
        f: TrailFile,
    ) -> Result<(), GenerateError> {
        if f.count == 0 {
            return Ok(());
        }
        self.buffered -= f.body.len();
        let (acct, region) = (&key.0, key.1);
        let delivered = f.window + WINDOW_MS;
        let rel = format!(
            "AWSLogs/{acct}/CloudTrail/{region}/{}/{acct}_CloudTrail_{region}_{}_{}.{}",
            date_path(delivered),
            compact_minute(delivered),
            self.r.alnum(16),
            self.ext()
        );
        let mut doc = Vec::with_capacity(f.body.len() + 16);
        doc.extend_from_slice(b"{\"Records\":[");
        doc.extend_from_slice(&f.body);
        doc.extend_from_slice(b"]}");
        self.put(&rel, &doc)?;
        if &**acct == HOME_ACCOUNT && region == "us-east-1" && self.digest_list.len() < 100 {
            self.digest_list.push((rel, f.window));
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), GenerateError> {
        let files = std::mem::take(&mut self.files);
        for (k, f) in files {
            self.flush_one(&k, f)?;
        }
        Ok(())
    }

    fn write_insight_and_digest(&mut self) -> Result<(), GenerateError> {
        let t = self.insight_time.or(self.first_ms).unwrap_or(0);
        let rel = format!(
            "AWSLogs/{HOME_ACCOUNT}/CloudTrail-Insight/us-east-1/{}/{HOME_ACCOUNT}_CloudTrail-Insight_us-east-1_{}_{}.{}",
            date_path(t),
            compact_minute(t),
            self.r.alnum(16),
            self.ext()
        );
        let mut doc = b"{\"Records\":[".to_vec();
        doc.extend_from_slice(&self.insight);
        doc.extend_from_slice(b"]}");
        self.put(&rel, &doc)?;

        let start = self.first_ms.unwrap_or(0);
        let end = self.last_ms.max(start) + WINDOW_MS;
        let c = civil(end);
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        let rel = format!(
            "AWSLogs/{HOME_ACCOUNT}/CloudTrail-Digest/us-east-1/{}/{HOME_ACCOUNT}_CloudTrail-Digest_us-east-1_denytrail-trail_us-east-1_{stamp}.{}",
            date_path(end),
            self.ext()
        );
        let mut j = JsonBuf::with_capacity(4096);
        j.open();
        j.kv("awsAccountId", HOME_ACCOUNT);
        j.kv_time("digestStartTime", start);
        j.kv_time("digestEndTime", end);
        j.kv(
            "digestS3Bucket",
            "aws-cloudtrail-logs-123456789012-denytrail",
        );
        j.kv("digestS3Object", &rel);
        j.kv_raw(
            "digestPublicKeyFingerprint",
            &format!("\"{}\"", self.r.hex(32)),
        );
        j.kv("digestSignatureAlgorithm", "SHA256withRSA");
        j.kv_time("newestEventTime", self.last_ms);
        j.kv_time("oldestEventTime", start);
        j.kv_raw("previousDigestS3Bucket", "null");
        j.kv_raw("previousDigestS3Object", "null");
        j.kv_raw("previousDigestHashValue", "null");
        j.kv_raw("previousDigestHashAlgorithm", "null");
        j.kv_raw("previousDigestSignature", "null");
        j.kv_open_arr("logFiles");
        let list = std::mem::take(&mut self.digest_list);
        for (obj_key, window) in &list {
            j.open();
            j.kv("s3Bucket", "aws-cloudtrail-logs-123456789012-denytrail");
            j.kv("s3Object", obj_key);
            let h = self.r.hex(64);
            j.kv("hashValue", &h);
            j.kv("hashAlgorithm", "SHA-256");
            j.kv_time("newestEventTime", window + WINDOW_MS - 1000);
            j.kv_time("oldestEventTime", *window);
            j.close();
        }
        j.close_arr();
        j.close();
        self.put(&rel, &j.buf)
    }
}

impl Sink for RecordsSink {
    fn write(&mut self, rec: &GeneratedRecord) -> Result<(), GenerateError> {
        self.first_ms.get_or_insert(rec.event_time_ms);
        self.last_ms = self.last_ms.max(rec.event_time_ms);
        if rec.truth.class == RecordClass::Insight {
            if !self.insight.is_empty() {
                self.insight.push(b',');
            }
            self.insight.extend_from_slice(&rec.json);
            self.insight_time.get_or_insert(rec.event_time_ms);
            return Ok(());
        }
        let key = (rec.account.clone(), rec.region);
        let window = rec.event_time_ms.div_euclid(WINDOW_MS) * WINDOW_MS;
        let full = match self.files.get(&key) {
            Some(f) => f.count >= self.per_file || window > f.window,
            None => false,
        };
        if let Some(f) = full.then(|| self.files.remove(&key)).flatten() {
            self.flush_one(&key, f)?;
        }
        let f = self.files.entry(key).or_insert_with(|| TrailFile {
            window,
            body: Vec::with_capacity(64 << 10),
            count: 0,
        });
        let before = f.body.len();
        if f.count > 0 {
            f.body.push(b',');
        }
        f.body.extend_from_slice(&rec.json);
        f.count += 1;
        self.buffered += f.body.len() - before;
        if self.buffered > BUFFER_CAP {
            self.flush_all()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), GenerateError> {
        self.flush_all()?;
        self.write_insight_and_digest()
    }
}

// ----- JSON Lines ------------------------------------------------------------

/// One record per line, to any writer.
pub(crate) struct JsonlSink<W: Write> {
    w: W,
    path: PathBuf,
}

impl<W: Write> JsonlSink<W> {
    pub(crate) fn new(w: W, path: PathBuf) -> Self {
        JsonlSink { w, path }
    }
}

impl<W: Write> Sink for JsonlSink<W> {
    fn write(&mut self, rec: &GeneratedRecord) -> Result<(), GenerateError> {
        self.w.write_all(&rec.json).map_err(io_err(&self.path))?;
        self.w.write_all(b"\n").map_err(io_err(&self.path))
    }

    fn finish(mut self: Box<Self>) -> Result<(), GenerateError> {
        self.w.flush().map_err(io_err(&self.path))
    }
}

// ----- aws cloudtrail lookup-events ------------------------------------------

#[derive(Deserialize)]
struct Summary<'a> {
    #[serde(rename = "eventID", borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "readOnly")]
    read_only: Option<bool>,
    #[serde(rename = "eventTime", borrow)]
    event_time: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow)]
    user_identity: Option<SummaryIdentity<'a>>,
}

#[derive(Deserialize)]
struct SummaryIdentity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "userName", borrow)]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
    #[serde(rename = "accessKeyId", borrow)]
    access_key_id: Option<Cow<'a, str>>,
}

/// Pages of `aws cloudtrail lookup-events` output (pretty-printed like the
/// CLI), each event's record in `CloudTrailEvent` as a JSON string.
pub(crate) struct LookupEventsSink {
    root: PathBuf,
    per_file: usize,
    page: Vec<u8>,
    count: usize,
    pages: usize,
}

impl LookupEventsSink {
    pub(crate) fn new(root: PathBuf, per_file: usize) -> Self {
        LookupEventsSink {
            root,
            per_file,
            page: Vec::new(),
            count: 0,
            pages: 0,
        }
    }

    fn flush(&mut self) -> Result<(), GenerateError> {
        if self.count == 0 {
            return Ok(());
        }
        let mut doc = Vec::with_capacity(self.page.len() + 64);
        doc.extend_from_slice(b"{\n    \"Events\": [\n");
        doc.extend_from_slice(&self.page);
        doc.extend_from_slice(b"\n    ]\n}\n");
        let path = self.root.join(format!("events-{:05}.json", self.pages));
        write_file(&path, &doc)?;
        self.pages += 1;
        self.page.clear();
        self.count = 0;
        Ok(())
    }
}

fn field(out: &mut Vec<u8>, first: &mut bool, k: &str, v: &[u8]) {
    if !*first {
        out.extend_from_slice(b",\n");
    }
    *first = false;
    out.extend_from_slice(b"            \"");
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\": ");
    out.extend_from_slice(v);
}

fn quoted(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    escape_bytes_into(&mut v, s.as_bytes());
    v
}

impl Sink for LookupEventsSink {
    fn write(&mut self, rec: &GeneratedRecord) -> Result<(), GenerateError> {
        let s: Summary<'_> =
            serde_json::from_slice(&rec.json).map_err(|source| GenerateError::Json {
                path: self.root.clone(),
                source,
            })?;
        let out = &mut self.page;
        if self.count > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"        {\n");
        let mut first = true;
        if let Some(id) = &s.event_id {
            field(out, &mut first, "EventId", &quoted(id));
        }
        if let Some(n) = &s.event_name {
            field(out, &mut first, "EventName", &quoted(n));
        }
        if let Some(ro) = s.read_only {
            field(
                out,
                &mut first,
                "ReadOnly",
                &quoted(if ro { "true" } else { "false" }),
            );
        }
        let ui = s.user_identity.as_ref();
        if let Some(k) = ui.and_then(|u| u.access_key_id.as_deref()) {
            field(out, &mut first, "AccessKeyId", &quoted(k));
        }
        if let Some(t) = &s.event_time {
            let t = t
                .strip_suffix('Z')
                .map_or_else(|| t.to_string(), |b| format!("{b}+00:00"));
            field(out, &mut first, "EventTime", &quoted(&t));
        }
        if let Some(src) = &s.event_source {
            field(out, &mut first, "EventSource", &quoted(src));
        }
        let username = ui.and_then(|u| match u.kind.as_deref() {
            Some("IAMUser") => u.user_name.as_deref().map(str::to_string),
            Some("AssumedRole") => u
                .arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string),
            Some("Root") => Some("root".to_string()),
            _ => None,
        });
        if let Some(u) = username {
            field(out, &mut first, "Username", &quoted(&u));
        }
        field(out, &mut first, "Resources", b"[]");
        let mut ev = Vec::with_capacity(rec.json.len() + rec.json.len() / 8 + 2);
        escape_bytes_into(&mut ev, &rec.json);
        field(out, &mut first, "CloudTrailEvent", &ev);
        out.extend_from_slice(b"\n        }");
        self.count += 1;
        if self.count >= self.per_file {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), GenerateError> {
        self.flush()
    }
}

// ----- CloudWatch Logs export ------------------------------------------------

#[derive(Debug, Default)]
struct StreamBuf {
    body: Vec<u8>,
    lines: usize,
    chunks: usize,
}

/// `CreateExportTask` output: `<taskid>/<ACCT_CloudTrail_REGION>/000000.gz`,
/// lines of `<ISO-8601 timestamp> <record>`.
pub(crate) struct CwExportSink {
    root: PathBuf,
    task: String,
    per_file: usize,
    streams: BTreeMap<(Arc<str>, &'static str), StreamBuf>,
    buffered: usize,
    r: Rand,
}

impl CwExportSink {
    pub(crate) fn new(root: PathBuf, per_file: usize, seed: u64) -> Self {
        let mut r = Rand::new(seed, 0xC3E7);
        let task = r.uuid();
        CwExportSink {
            root,
            task,
            per_file: per_file.saturating_mul(4),
            streams: BTreeMap::new(),
            buffered: 0,
            r,
        }
    }

    fn flush_stream(
        root: &Path,
        task: &str,
        key: &(Arc<str>, &'static str),
        s: &mut StreamBuf,
    ) -> Result<usize, GenerateError> {
        if s.lines == 0 {
            return Ok(0);
        }
        let path = root
            .join(task)
            .join(format!("{}_CloudTrail_{}", key.0, key.1))
            .join(format!("{:06}.gz", s.chunks));
        write_file(&path, &gzip(&s.body))?;
        let n = s.body.len();
        s.body.clear();
        s.lines = 0;
        s.chunks += 1;
        Ok(n)
    }

    fn flush_all(&mut self) -> Result<(), GenerateError> {
        for (k, s) in self.streams.iter_mut() {
            let n = Self::flush_stream(&self.root, &self.task, k, s)?;
            self.buffered -= n;
        }
        Ok(())
    }
}

impl Sink for CwExportSink {
    fn write(&mut self, rec: &GeneratedRecord) -> Result<(), GenerateError> {
        let delay = self.r.range(30_000, 300_000) as i64;
        let key = (rec.account.clone(), rec.region);
        let s = self.streams.entry(key.clone()).or_default();
        let before = s.body.len();
        push_iso8601(&mut s.body, rec.event_time_ms + delay, true);
        s.body.push(b' ');
        s.body.extend_from_slice(&rec.json);
        s.body.push(b'\n');
        s.lines += 1;
        self.buffered += s.body.len() - before;
        if s.lines >= self.per_file {
            let n = Self::flush_stream(&self.root, &self.task, &key, s)?;
            self.buffered -= n;
        }
        if self.buffered > BUFFER_CAP {
            self.flush_all()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), GenerateError> {
        self.flush_all()
    }
}

// ----- CloudWatch Logs subscription (Firehose objects) -----------------------

#[derive(Debug, Default)]
struct Batch {
    events: Vec<(i64, Vec<u8>)>,
    target: usize,
}

/// Firehose objects of concatenated gzip members, each a CloudWatch Logs
/// subscription payload (`DATA_MESSAGE`), the first one a `CONTROL_MESSAGE`.
pub(crate) struct CwSubscriptionSink {
    root: PathBuf,
    per_file: usize,
    batches: BTreeMap<(Arc<str>, &'static str), Batch>,
    buffered: usize,
    file: Vec<u8>,
    file_events: usize,
    file_time: Option<i64>,
    control_written: bool,
    r: Rand,
}

impl CwSubscriptionSink {
    pub(crate) fn new(root: PathBuf, per_file: usize, seed: u64) -> Self {
        CwSubscriptionSink {
            root,
            per_file,
            batches: BTreeMap::new(),
            buffered: 0,
            file: Vec::new(),
            file_events: 0,
            file_time: None,
            control_written: false,
            r: Rand::new(seed, 0xF1E7),
        }
    }

    fn payload(&mut self, key: &(Arc<str>, &'static str), events: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut j = JsonBuf::with_capacity(events.iter().map(|e| e.1.len() + 128).sum());
        j.open();
        j.kv("messageType", "DATA_MESSAGE");
        j.kv("owner", &key.0);
        j.kv("logGroup", "aws-cloudtrail-logs");
        j.key("logStream");
        j.str(&format!("{}_CloudTrail_{}", key.0, key.1));
        j.kv_raw("subscriptionFilters", "[\"cloudtrail-to-firehose\"]");
        j.kv_open_arr("logEvents");
        for (ts, msg) in events {
            j.open();
            let id = self.r.digits(56);
            j.kv("id", &id);
            j.kv_num("timestamp", u64::try_from(*ts).unwrap_or(0));
            j.key("message");
            j.str_bytes(msg);
            j.close();
        }
        j.close_arr();
        j.close();
        j.buf
    }

    fn control(&mut self) {
        let t = self.file_time.unwrap_or(0);
        let doc = format!(
            "{{\"messageType\":\"CONTROL_MESSAGE\",\"owner\":\"CloudwatchLogs\",\"logGroup\":\"\",\"logStream\":\"\",\"subscriptionFilters\":[],\"logEvents\":[{{\"id\":\"\",\"timestamp\":{t},\"message\":\"CWL CONTROL MESSAGE: Checking health of destination Firehose.\"}}]}}"
        );
        self.file.extend_from_slice(&gzip(doc.as_bytes()));
    }

    fn emit_batch(
        &mut self,
        key: &(Arc<str>, &'static str),
        b: Batch,
    ) -> Result<(), GenerateError> {
        if b.events.is_empty() {
            return Ok(());
        }
        self.buffered -= b.events.iter().map(|e| e.1.len()).sum::<usize>();
        self.file_time.get_or_insert(b.events[0].0);
        if !self.control_written {
            self.control_written = true;
            self.control();
        }
        let doc = self.payload(key, &b.events);
        self.file.extend_from_slice(&gzip(&doc));
        self.file_events += b.events.len();
        if self.file_events >= self.per_file {
            self.flush_file()?;
        }
        Ok(())
    }

    fn flush_file(&mut self) -> Result<(), GenerateError> {
        if self.file.is_empty() {
            return Ok(());
        }
        let t = self.file_time.take().unwrap_or(0);
        let c = civil(t);
        let rel = format!(
            "{:04}/{:02}/{:02}/{:02}/denytrail-firehose-1-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{}.gz",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            self.r.uuid()
        );
        write_file(&self.root.join(rel), &self.file)?;
        self.file.clear();
        self.file_events = 0;
        Ok(())
    }
}

impl Sink for CwSubscriptionSink {
    fn write(&mut self, rec: &GeneratedRecord) -> Result<(), GenerateError> {
        let key = (rec.account.clone(), rec.region);
        let target = 5 + self.r.below(36) as usize;
        let ts = rec.event_time_ms + self.r.range(30_000, 300_000) as i64;
        let b = self.batches.entry(key.clone()).or_insert_with(|| Batch {
            events: Vec::new(),
            target,
        });
        b.events.push((ts, rec.json.clone()));
        self.buffered += rec.json.len();
        let ready = b.events.len() >= b.target;
        if let Some(b) = ready.then(|| self.batches.remove(&key)).flatten() {
            self.emit_batch(&key, b)?;
        }
        if self.buffered > BUFFER_CAP {
            for (k, b) in std::mem::take(&mut self.batches) {
                self.emit_batch(&k, b)?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), GenerateError> {
        for (k, b) in std::mem::take(&mut self.batches) {
            self.emit_batch(&k, b)?;
        }
        if !self.control_written {
            self.control();
        }
        self.flush_file()
    }
}
