//! Time, written once: the grammar of durations and points in time on the
//! command line (every flag that takes one: `--poll-interval`,
//! `--cw-lookback`, `--delivery-slack`, `--series-ttl`, `--since`/`--until`
//! and their ages), and the sortable form of an event's timestamp that both
//! the time-range filter and the groups' first/last seen compare.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Longest duration accepted: 100 years.
const MAX_SECS: f64 = 100.0 * 365.0 * 86_400.0;

/// Parse `250ms`, `5s`, `1.5s`, `10m`, `24h`, `7d`, or bare seconds (`5`,
/// `0.5`).
///
/// ```
/// use std::time::Duration;
/// use denytrail::time::parse_duration;
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
/// assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("-3h").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (use e.g. 200ms, 5s, 10m, 24h, 7d)"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        u => {
            return Err(format!(
                "invalid duration unit {u:?} in {s:?} (ms, s, m, h, d)"
            ));
        }
    };
    let secs = n * scale;
    if !(0.0..=MAX_SECS).contains(&secs) {
        return Err(format!(
            "duration {s:?} is out of range (at most 100 years)"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Parse a point in time: RFC 3339 (`2024-05-01T12:00:00Z`), a UTC date
/// (`2024-05-01`, midnight), `YYYY-MM-DDTHH:MM[:SS]` (UTC), or an age
/// before `now` in the duration grammar (`90s`, `15m`, `6h`, `7d`).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use denytrail::time::parse_time;
/// let now = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
/// assert_eq!(parse_time("2024-05-01", now).unwrap(), Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap());
/// assert_eq!(parse_time("6h", now).unwrap(), Utc.with_ymd_and_hms(2024, 5, 2, 6, 0, 0).unwrap());
/// ```
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    if s.starts_with(|c: char| c.is_ascii_digit())
        && let Ok(d) = parse_duration(s)
    {
        let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
        return now
            .checked_sub_signed(d)
            .ok_or_else(|| format!("{s:?} is too far back"));
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2024-05-01T12:00:00Z), a UTC date (2024-05-01) or an age (90m, 6h, 7d)"
    ))
}

/// A sortable form of an event time: `2024-05-01T10:00:00Z`,
/// `2024-05-01T10:00:00.123Z` and a log line's `2024-05-01 10:00:00,123`
/// become `2024-05-01T10:00:00.000000000`, `…00.123000000`, so that
/// precision and separators do not decide the order (as plain string order
/// would: `…:00.5Z` sorts before `…:00Z`). Times are taken as UTC (CloudTrail
/// writes them so); a string that is not a timestamp is its own key.
///
/// ```
/// use denytrail::time::time_key;
/// assert!(time_key("2024-05-01T00:00:36Z") < time_key("2024-05-01T00:00:36.471Z"));
/// assert_eq!(time_key("2024-05-01 00:00:36,5"), "2024-05-01T00:00:36.500000000");
/// ```
pub fn time_key(t: &str) -> String {
    let (Some(head), Some(rest)) = (t.get(..19), t.get(19..)) else {
        return t.to_string();
    };
    let mut key = String::with_capacity(29);
    key.push_str(head);
    if key.as_bytes().get(10) == Some(&b' ') {
        key.replace_range(10..11, "T");
    }
    key.push('.');
    let frac = rest.strip_prefix(['.', ',']).unwrap_or("");
    let mut n = 0;
    for c in frac.chars().take_while(char::is_ascii_digit).take(9) {
        key.push(c);
        n += 1;
    }
    for _ in n..9 {
        key.push('0');
    }
    key
}

/// Is event time `a` strictly before `b`?
///
/// ```
/// assert!(denytrail::time::earlier("2024-05-01 00:00:35,999", "2024-05-01T00:00:36Z"));
/// ```
pub fn earlier(a: &str, b: &str) -> bool {
    time_key(a) < time_key(b)
}

/// The sortable key of a point in time, as [`time_key`] writes it.
pub fn key_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S.%f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn durations_parse() {
        for (s, ms) in [
            ("200ms", 200),
            ("5s", 5000),
            ("5", 5000),
            ("0.5", 500),
            ("1.5s", 1500),
            ("10m", 600_000),
            ("24h", 86_400_000),
            ("7d", 604_800_000),
            (" 3s ", 3000),
        ] {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_millis(ms), "{s}");
        }
        for bad in ["", "soon", "5x", "-3h", "1e400", "99999999999d", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_of_different_precision_order_by_time() {
        assert!(earlier("2024-05-01T00:00:36Z", "2024-05-01T00:00:36.471Z"));
        assert!(earlier("2024-05-01 00:00:35,999", "2024-05-01T00:00:36Z"));
        assert!(!earlier("2024-05-01T00:00:36.000Z", "2024-05-01T00:00:36Z"));
        assert!(earlier(
            "2024-05-01T00:00:36.4Z",
            "2024-05-01T00:00:36.471Z"
        ));
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 36).unwrap();
        assert_eq!(key_of(t), time_key("2024-05-01T00:00:36Z"));
        assert_eq!(
            key_of(t + chrono::Duration::milliseconds(471)),
            time_key("2024-05-01T00:00:36.471Z")
        );
    }

    #[test]
    fn times_parse() {
        let now = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
        let t = |s| parse_time(s, now);
        assert_eq!(
            t("2024-05-01T23:59:30Z").unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 1, 23, 59, 30).unwrap()
        );
        assert_eq!(
            t("2024-05-01T01:00:00+01:00").unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            t("2024-05-01T10:30").unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap()
        );
        assert_eq!(
            t("7d").unwrap(),
            Utc.with_ymd_and_hms(2024, 4, 25, 12, 0, 0).unwrap()
        );
        assert_eq!(
            t("500ms").unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 2, 11, 59, 59).unwrap()
                + chrono::Duration::milliseconds(500)
        );
        for bad in ["", "yesterday", "2024-13-01", "5x", "-3h"] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }
}
