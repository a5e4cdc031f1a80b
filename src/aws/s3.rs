//! CloudTrail archives in S3: select the keys that can hold a time range
//! from the key layout, then stream each object through the scanner.
//!
//! Layout (per trail): `PREFIX/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`
//! and, for organisation trails, `PREFIX/AWSLogs/<org-id>/<account>/CloudTrail/…`.
//! Accounts and regions are discovered by listing with the delimiter `/`;
//! `CloudTrail-Digest/` and `CloudTrail-Insight/` are never listed.
//!
//! A key's date (and the `_YYYYMMDDTHHMMZ_` stamp in its file name) is the
//! delivery time, which comes after the events it holds — usually within
//! minutes, sometimes later. Keys delivered in
//! `[since − slack, until + slack]` are read (`--delivery-slack`, default
//! 1 h); the scope then keeps every denial only when its `eventTime` lies
//! in `[since, until)` exactly. An object is a [`Source`] of bytes: this
//! module downloads, it does not scan.

use std::io::{self, Read};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, NaiveDateTime, Utc};
use tokio::task::JoinSet;

use super::backoff::Call;
use super::context::AwsContext;
use super::error::{AwsError, Needs};
use crate::input::{InputError, InputErrorKind};
use crate::source::{Opened, Source, SourceKind};

/// An `s3://bucket/prefix` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// Parse `s3://bucket[/prefix]`.
    ///
    /// ```
    /// let u = denytrail::aws::S3Url::parse("s3://logs/trail/AWSLogs/").unwrap();
    /// assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("logs", "trail/AWSLogs/"));
    /// ```
    pub fn parse(s: &str) -> Result<S3Url, AwsError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| AwsError::Config(format!("{s:?} is not an s3:// URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(AwsError::Config(format!(
                "{s:?}: the bucket name is missing"
            )));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// Where in the CloudTrail layout the given prefix points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Layout {
    /// Up to and including `AWSLogs/`.
    root: String,
    org: Option<String>,
    account: Option<String>,
    region: Option<String>,
}

fn layout(prefix: &str) -> Result<Layout, String> {
    let (root, rest) = match prefix.find("AWSLogs/") {
        Some(i) => (prefix[..i + 8].to_string(), &prefix[i + 8..]),
        None if prefix.is_empty() || prefix.ends_with('/') => (format!("{prefix}AWSLogs/"), ""),
        None => (format!("{prefix}/AWSLogs/"), ""),
    };
    let mut segs = rest.split('/').filter(|s| !s.is_empty()).peekable();
    let mut l = Layout {
        root,
        ..Layout::default()
    };
    if segs.peek().is_some_and(|s| s.starts_with("o-")) {
        l.org = segs.next().map(str::to_string);
    }
    l.account = segs.next().map(str::to_string);
    match segs.next() {
        None => {}
        Some("CloudTrail") => l.region = segs.next().map(str::to_string),
        Some(other) => {
            return Err(format!(
                "{prefix:?}: expected …/AWSLogs/[org-id/]account/CloudTrail/region/, found {other:?} after the account"
            ));
        }
    }
    if segs.next().is_some() {
        return Err(format!(
            "{prefix:?}: give the prefix down to the region at most (dates come from --since/--until)"
        ));
    }
    Ok(l)
}

/// The delivery stamp `YYYYMMDDTHHMMZ` of a CloudTrail file name.
fn delivery_time(key: &str) -> Option<DateTime<Utc>> {
    let file = key.rsplit('/').next()?;
    file.split('_')
        .filter(|t| t.len() == 14 && t.as_bytes()[8] == b'T' && t.ends_with('Z'))
        .find_map(|t| NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%MZ").ok())
        .map(|t| t.and_utc())
}

/// The key window: deliveries in `[lo, hi]` are read.
#[derive(Debug, Clone, Copy)]
struct Window {
    lo: Option<DateTime<Utc>>,
    hi: DateTime<Utc>,
}

impl Window {
    fn keeps(&self, key: &str) -> bool {
        if key.ends_with('/')
            || key.contains("/CloudTrail-Digest/")
            || key.contains("/CloudTrail-Insight/")
        {
            return false;
        }
        match delivery_time(key) {
            // The stamp is floored to the minute.
            Some(t) => self.lo.is_none_or(|lo| t + ChronoDuration::minutes(1) > lo) && t <= self.hi,
            None => true,
        }
    }

    fn days(&self) -> Option<Vec<NaiveDate>> {
        let lo = self.lo?.date_naive();
        let hi = self.hi.date_naive();
        let mut d = lo;
        let mut out = Vec::new();
        while d <= hi {
            out.push(d);
            d = d.succ_opt()?;
        }
        Some(out)
    }
}

pub(crate) fn s3_target(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

fn list_needs(bucket: &str) -> Needs {
    Needs {
        permission: "s3:ListBucket",
        resource: format!("arn:aws:s3:::{bucket}"),
        policy: "replay-s3.json",
    }
}

/// One `ListObjectsV2` pass over `prefix`, every page: (keys, common prefixes).
async fn list(
    ctx: &AwsContext,
    bucket: &str,
    prefix: &str,
    delimited: bool,
) -> Result<(Vec<String>, Vec<String>), AwsError> {
    let target = s3_target(bucket, prefix);
    let call = Call {
        operation: "ListObjectsV2",
        target: &target,
        needs: list_needs(bucket),
        limiter: None,
        backoff: ctx.settings.backoff,
        metrics: &ctx.metrics,
    };
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = call
            .run(|| {
                let mut req = ctx.s3.list_objects_v2().bucket(bucket).prefix(prefix);
                if delimited {
                    req = req.delimiter("/");
                }
                if let Some(t) = &token {
                    req = req.continuation_token(t);
                }
                req.send()
            })
            .await?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        prefixes.extend(
            out.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() != Some(false) && token.as_deref() != Some(t) => {
                token = Some(t.to_string());
            }
            _ => break,
        }
    }
    Ok((keys, prefixes))
}

/// The last path segment of a common prefix `a/b/c/` → `c`.
fn last_segment(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// List the keys of `url` that can hold the configured range.
pub(crate) async fn select_keys(
    ctx: &Arc<AwsContext>,
    url: &S3Url,
) -> Result<(Vec<String>, Vec<InputError>), AwsError> {
    let l = layout(&url.prefix).map_err(AwsError::Config)?;
    let s = &ctx.settings;
    let slack = ChronoDuration::from_std(s.delivery_slack).unwrap_or(ChronoDuration::hours(1));
    let now = Utc::now();
    let hi = s.range.until.map_or(now, |u| u.min(now)) + slack;
    let window = Window {
        lo: s.range.since.map(|t| t - slack),
        hi,
    };
    let mut errors = Vec::new();
    let unreadable = |origin: String, e: &AwsError| InputError {
        origin,
        offset: 0,
        kind: InputErrorKind::Unreadable,
        detail: e.to_string(),
    };

    // Account prefixes `…/AWSLogs/[org/]account/`.
    let mut accounts: Vec<String> = Vec::new();
    let under_org = |org: &str| format!("{}{org}/", l.root);
    match (&l.org, &l.account) {
        (org, Some(a)) => accounts.push(match org {
            Some(o) => format!("{}{a}/", under_org(o)),
            None => format!("{}{a}/", l.root),
        }),
        (Some(o), None) => accounts.extend(list(ctx, &url.bucket, &under_org(o), true).await?.1),
        (None, None) => {
            let (_, top) = list(ctx, &url.bucket, &l.root, true).await?;
            if top.is_empty() {
                tracing::warn!(
                    "s3://{}/{}: nothing under this prefix; is it the trail's S3 key prefix?",
                    url.bucket,
                    l.root
                );
            }
            for p in top {
                let name = last_segment(&p);
                if name.starts_with("o-") {
                    match list(ctx, &url.bucket, &p, true).await {
                        Ok((_, accts)) => accounts.extend(accts),
                        Err(e) => errors.push(unreadable(s3_target(&url.bucket, &p), &e)),
                    }
                } else if name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
                    accounts.push(p);
                }
            }
        }
    }
    accounts.retain(|p| s.accounts.is_empty() || s.accounts.iter().any(|a| a == last_segment(p)));

    // Region prefixes `…/account/CloudTrail/region/`.
    let mut regions: Vec<String> = Vec::new();
    for a in &accounts {
        let ct = format!("{a}CloudTrail/");
        match &l.region {
            Some(r) => regions.push(format!("{ct}{r}/")),
            None => match list(ctx, &url.bucket, &ct, true).await {
                Ok((_, rs)) => regions.extend(rs),
                Err(e) => errors.push(unreadable(s3_target(&url.bucket, &ct), &e)),
            },
        }
    }
    regions.retain(|p| {
        s.trail_regions.is_empty() || s.trail_regions.iter().any(|r| r == last_segment(p))
    });

    // Day prefixes (or the whole region when the range has no start).
    let mut prefixes: Vec<String> = Vec::new();
    for r in &regions {
        match window.days() {
            Some(days) => prefixes.extend(
                days.iter()
                    .map(|d| format!("{r}{:04}/{:02}/{:02}/", d.year(), d.month(), d.day())),
            ),
            None => prefixes.push(r.clone()),
        }
    }
    tracing::info!(
        bucket = %url.bucket,
        accounts = accounts.len(),
        regions = regions.len(),
        prefixes = prefixes.len(),
        "listing CloudTrail day prefixes"
    );
    let mut set: JoinSet<(String, Listed)> = JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(LIST_CONCURRENCY));
    for p in prefixes {
        let ctx = ctx.clone();
        let bucket = url.bucket.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = list(&ctx, &bucket, &p, false).await;
            (p, r)
        });
    }
    let mut keys = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((_, Ok((ks, _)))) => keys.extend(ks.into_iter().filter(|k| window.keeps(k))),
            Ok((p, Err(e))) => errors.push(unreadable(s3_target(&url.bucket, &p), &e)),
            Err(e) => errors.push(InputError {
                origin: s3_target(&url.bucket, &l.root),
                offset: 0,
                kind: InputErrorKind::Unreadable,
                detail: format!("listing task failed: {e}"),
            }),
        }
    }
    keys.sort();
    keys.dedup();
    Ok((keys, errors))
}

/// A listing's keys and common prefixes, or why it failed.
type Listed = Result<(Vec<String>, Vec<String>), AwsError>;

/// Day prefixes listed at once.
const LIST_CONCURRENCY: usize = 8;

/// One S3 object, read when a replay worker gets to it.
#[derive(Debug)]
pub struct S3Object {
    ctx: Arc<AwsContext>,
    bucket: String,
    key: String,
}

impl S3Object {
    pub(crate) fn new(ctx: Arc<AwsContext>, bucket: String, key: String) -> S3Object {
        S3Object { ctx, bucket, key }
    }
}

impl Source for S3Object {
    fn origin(&self) -> String {
        s3_target(&self.bucket, &self.key)
    }

    fn key(&self) -> String {
        self.key.clone()
    }

    fn kind(&self) -> SourceKind {
        SourceKind::S3
    }

    fn open(&self) -> Result<Opened<'_>, InputError> {
        let origin = self.origin();
        let ctx = &self.ctx;
        let call = Call {
            operation: "GetObject",
            target: &origin,
            needs: Needs {
                permission: "s3:GetObject",
                resource: format!("arn:aws:s3:::{}/{}", self.bucket, self.key),
                policy: "replay-s3.json",
            },
            limiter: None,
            backoff: ctx.settings.backoff,
            metrics: &ctx.metrics,
        };
        let got = ctx.rt.block_on(call.run(|| {
            ctx.s3
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send()
        }));
        match got {
            Ok(o) => Ok(Opened::Bytes(Box::new(BodyReader {
                rt: ctx.rt.handle().clone(),
                body: o.body,
                chunk: bytes::Bytes::new(),
                origin,
            }))),
            Err(e) => Err(InputError {
                origin,
                offset: 0,
                kind: InputErrorKind::Unreadable,
                detail: e.to_string(),
            }),
        }
    }
}

/// A blocking `Read` over an S3 body stream: replay workers are plain
/// threads, so they wait on the runtime for each chunk.
struct BodyReader {
    rt: tokio::runtime::Handle,
    body: ByteStream,
    chunk: bytes::Bytes,
    origin: String,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => {
                    return Err(io::Error::other(format!(
                        "reading {} from S3 failed: {e}",
                        self.origin
                    )));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn layouts_parse() {
        let l = layout("").unwrap();
        assert_eq!(l.root, "AWSLogs/");
        let l = layout("trail").unwrap();
        assert_eq!(l.root, "trail/AWSLogs/");
        let l = layout("x/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/").unwrap();
        assert_eq!(l.root, "x/AWSLogs/");
        assert_eq!(l.org.as_deref(), Some("o-abc123"));
        assert_eq!(l.account.as_deref(), Some("111122223333"));
        assert_eq!(l.region.as_deref(), Some("eu-west-1"));
        let l = layout("AWSLogs/111122223333").unwrap();
        assert_eq!(
            (l.org, l.account.as_deref(), l.region),
            (None, Some("111122223333"), None)
        );
        assert!(layout("AWSLogs/111122223333/CloudTrail-Digest/").is_err());
        assert!(layout("AWSLogs/1/CloudTrail/us-east-1/2024/").is_err());
    }

    #[test]
    fn keys_are_kept_by_delivery_stamp() {
        let w = Window {
            lo: Some(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap() - ChronoDuration::hours(1)),
            hi: Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap() + ChronoDuration::hours(1),
        };
        let k = |stamp: &str| {
            format!(
                "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/1_CloudTrail_us-east-1_{stamp}_abc.json.gz"
            )
        };
        assert!(w.keeps(&k("20240501T0005Z")));
        assert!(w.keeps(&k("20240502T0055Z")));
        assert!(w.keeps(&k("20240430T2300Z")));
        assert!(!w.keeps(&k("20240430T2259Z")));
        assert!(!w.keeps(&k("20240502T0101Z")));
        assert!(w.keeps("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/odd-name.json.gz"));
        assert!(!w.keeps("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/"));
        let days = w.days().unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!(days[0], NaiveDate::from_ymd_opt(2024, 4, 30).unwrap());
    }

    #[test]
    fn urls_parse() {
        assert!(S3Url::parse("s3://").is_err());
        assert!(S3Url::parse("gs://x").is_err());
        assert_eq!(S3Url::parse("s3://b").unwrap().prefix, "");
    }
}
