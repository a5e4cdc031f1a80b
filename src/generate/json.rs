//! A small hand-written JSON writer and UTC time formatting.
//!
//! Records are built straight into a byte buffer, in the field order
//! CloudTrail uses, without an intermediate `serde_json::Value`: generating
//! gigabytes must be fast. Output is compact JSON (no spaces), with non-ASCII
//! characters written as UTF-8 and only `"`, `\` and control characters escaped,
//! like `serde_json`.

/// A compact JSON writer over a byte buffer that inserts commas itself.
#[derive(Debug, Default)]
pub(crate) struct JsonBuf {
    /// The bytes written so far.
    pub(crate) buf: Vec<u8>,
    /// A value was just written: the next key or array element needs a comma.
    need_comma: bool,
}

impl JsonBuf {
    /// An empty writer with room for `cap` bytes.
    pub(crate) fn with_capacity(cap: usize) -> JsonBuf {
        JsonBuf {
            buf: Vec::with_capacity(cap),
            need_comma: false,
        }
    }

    #[inline]
    fn comma(&mut self) {
        if self.need_comma {
            self.buf.push(b',');
        }
    }

    /// `{`
    #[inline]
    pub(crate) fn open(&mut self) {
        self.comma();
        self.buf.push(b'{');
        self.need_comma = false;
    }

    /// `}`
    #[inline]
    pub(crate) fn close(&mut self) {
        self.buf.push(b'}');
        self.need_comma = true;
    }

    /// `[`
    #[inline]
    pub(crate) fn open_arr(&mut self) {
        self.comma();
        self.buf.push(b'[');
        self.need_comma = false;
    }

    /// `]`
    #[inline]
    pub(crate) fn close_arr(&mut self) {
        self.buf.push(b']');
        self.need_comma = true;
    }

    /// `"key":` (the key must not need escaping).
    #[inline]
    pub(crate) fn key(&mut self, k: &str) {
        self.comma();
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.need_comma = false;
    }

    /// A string value, escaped.
    #[inline]
    pub(crate) fn str(&mut self, v: &str) {
        self.comma();
        escape_str_into(&mut self.buf, v);
        self.need_comma = true;
    }

    /// A value written as is (a number, `true`, `null`, or a JSON document).
    #[inline]
    pub(crate) fn raw(&mut self, v: &str) {
        self.comma();
        self.buf.extend_from_slice(v.as_bytes());
        self.need_comma = true;
    }

    /// A value given as bytes written as is (a rendered JSON document).
    #[inline]
    pub(crate) fn raw_bytes(&mut self, v: &[u8]) {
        self.comma();
        self.buf.extend_from_slice(v);
        self.need_comma = true;
    }

    /// A string value given as UTF-8 bytes, escaped.
    #[inline]
    pub(crate) fn str_bytes(&mut self, v: &[u8]) {
        self.comma();
        escape_bytes_into(&mut self.buf, v);
        self.need_comma = true;
    }

    /// An unsigned number.
    #[inline]
    pub(crate) fn num(&mut self, v: u64) {
        self.comma();
        push_u64(&mut self.buf, v);
        self.need_comma = true;
    }

    /// A boolean.
    #[inline]
    pub(crate) fn bool(&mut self, v: bool) {
        self.raw(if v { "true" } else { "false" });
    }

    /// `"key":"value"`
    #[inline]
    pub(crate) fn kv(&mut self, k: &str, v: &str) {
        self.key(k);
        self.str(v);
    }

    /// `"key":<raw>`
    #[inline]
    pub(crate) fn kv_raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.raw(v);
    }

    /// `"key":<number>`
    #[inline]
    pub(crate) fn kv_num(&mut self, k: &str, v: u64) {
        self.key(k);
        self.num(v);
    }

    /// `"key":<bool>`
    #[inline]
    pub(crate) fn kv_bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.bool(v);
    }

    /// `"key":{` — close it with [`JsonBuf::close`].
    #[inline]
    pub(crate) fn kv_open(&mut self, k: &str) {
        self.key(k);
        self.open();
    }

    /// `"key":[` — close it with [`JsonBuf::close_arr`].
    #[inline]
    pub(crate) fn kv_open_arr(&mut self, k: &str) {
        self.key(k);
        self.open_arr();
    }

    /// `"key":"<ISO-8601 time without milliseconds>"`
    #[inline]
    pub(crate) fn kv_time(&mut self, k: &str, ms: i64) {
        self.key(k);
        self.comma();
        self.buf.push(b'"');
        push_iso8601(&mut self.buf, ms, false);
        self.buf.push(b'"');
        self.need_comma = true;
    }
}

/// Append `s` as a JSON string literal (with quotes) to `out`.
pub(crate) fn escape_str_into(out: &mut Vec<u8>, s: &str) {
    escape_bytes_into(out, s.as_bytes());
}

/// Append UTF-8 bytes as a JSON string literal (with quotes) to `out`.
pub(crate) fn escape_bytes_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Append the decimal digits of `v`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) milli: u32,
}

/// Unix milliseconds to a UTC calendar time (proleptic Gregorian).
pub(crate) fn civil(ms: i64) -> Civil {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's days_to_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3_600_000) as u32,
        minute: (rem / 60_000 % 60) as u32,
        second: (rem / 1000 % 60) as u32,
        milli: (rem % 1000) as u32,
    }
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn push_year(out: &mut Vec<u8>, y: i64) {
    let y = y.clamp(0, 9999) as u32;
    push2(out, y / 100);
    push2(out, y % 100);
}

/// Append `2024-05-01T10:00:00Z` (or `…00.123Z` with `millis`).
pub(crate) fn push_iso8601(out: &mut Vec<u8>, ms: i64, millis: bool) {
    let c = civil(ms);
    push_year(out, c.year);
    out.push(b'-');
    push2(out, c.month);
    out.push(b'-');
    push2(out, c.day);
    out.push(b'T');
    push2(out, c.hour);
    out.push(b':');
    push2(out, c.minute);
    out.push(b':');
    push2(out, c.second);
    if millis {
        out.push(b'.');
        out.push(b'0' + (c.milli / 100) as u8);
        push2(out, c.milli % 100);
    }
    out.push(b'Z');
}

/// `2024-05-01T10:00:00Z` as a `String`.
pub(crate) fn iso8601(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_iso8601(&mut v, ms, false);
    String::from_utf8(v).unwrap_or_default()
}

/// `2024-05-01T10:00:00.123Z` as a `String`.
#[cfg(test)]
pub(crate) fn iso8601_millis(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_iso8601(&mut v, ms, true);
    String::from_utf8(v).unwrap_or_default()
}

/// `20240501T1000Z` (CloudTrail file names).
pub(crate) fn compact_minute(ms: i64) -> String {
    let c = civil(ms);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `2024/05/01` (CloudTrail S3 key prefix).
pub(crate) fn date_path(ms: i64) -> String {
    let c = civil(ms);
    format!("{:04}/{:02}/{:02}", c.year, c.month, c.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_matches_known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_714_557_600_000), "2024-05-01T10:00:00Z");
        assert_eq!(
            iso8601_millis(1_709_208_000_123),
            "2024-02-29T12:00:00.123Z"
        );
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(compact_minute(1_714_557_600_000), "20240501T1000Z");
        assert_eq!(date_path(1_714_557_600_000), "2024/05/01");
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "quo\"te",
            "back\\slash",
            "new\nline\t\u{1}",
            "ünïcødé 日本",
        ] {
            let mut out = Vec::new();
            escape_str_into(&mut out, s);
            let ours = String::from_utf8(out).unwrap();
            assert_eq!(ours, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn writer_places_commas() {
        let mut j = JsonBuf::default();
        j.open();
        j.kv("a", "x");
        j.kv_num("b", 12);
        j.kv_open_arr("c");
        j.num(1);
        j.open();
        j.kv_bool("d", true);
        j.close();
        j.close_arr();
        j.kv_raw("e", "null");
        j.close();
        assert_eq!(
            String::from_utf8(j.buf).unwrap(),
            r#"{"a":"x","b":12,"c":[1,{"d":true}],"e":null}"#
        );
    }
}
