//! The fields of a CloudTrail record that the classifier reads, borrowed
//! from the record's bytes by one validating pass.
//!
//! [`read`] walks the record once: it compares each key of the top-level
//! object (and of `userIdentity`, its `sessionContext.sessionIssuer` and
//! `onBehalfOf`) with the few the classifier reads, keeps those values as
//! slices of the input, and skips every other value while checking that it
//! is valid JSON. Strings are scanned eight bytes at a time for the only
//! bytes that matter inside them (`"`, `\`, control characters).
//!
//! It gives exactly what serde_json gives for the same bytes, or nothing:
//! anything it does not handle itself (an escape in a key, a key given
//! twice, a field of the wrong type, nesting past [`MAX_DEPTH`], invalid
//! JSON, invalid UTF-8 in a value it keeps) makes it return `None`, and the
//! caller then parses the record with serde_json ([`parse`] does both),
//! which produces the same fields or the error to report. The `record`
//! fuzz target checks the two against each other.
//!
//! Like serde_json reading a byte slice, it checks UTF-8 only in what it
//! keeps (keys, kept strings, raw kept values), not in skipped strings.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Deepest nesting the fast pass follows; deeper records go to serde_json
/// (whose own limit is 128).
pub const MAX_DEPTH: u32 = 100;

/// A JSON string borrowed from the input when it has no escapes.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub(super) struct Str<'a>(#[serde(borrow)] pub(super) Cow<'a, str>);

impl Str<'_> {
    /// The value trimmed, when not blank.
    pub(super) fn get(&self) -> Option<&str> {
        let s = self.0.trim();
        (!s.is_empty()).then_some(s)
    }
}

/// A JSON value kept as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Raw<'a>(pub(super) &'a str);

impl<'a> Raw<'a> {
    /// The value's JSON text.
    pub(super) fn get(&self) -> &'a str {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|r| Raw(r.get()))
    }
}

/// The fields of a record the classifier reads.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) struct Record<'a> {
    #[serde(borrow)]
    pub(super) event_type: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) insight_details: Option<Raw<'a>>,
    #[serde(borrow)]
    pub(super) error_code: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) error_message: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) event_source: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) event_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) aws_region: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) event_time: Option<Str<'a>>,
    #[serde(borrow, rename = "eventID")]
    pub(super) event_id: Option<Str<'a>>,
    #[serde(borrow, rename = "sharedEventID")]
    pub(super) shared_event_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) vpc_endpoint_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) recipient_account_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow)]
    pub(super) request_parameters: Option<Raw<'a>>,
    #[serde(borrow)]
    pub(super) resources: Option<Raw<'a>>,
}

/// `userIdentity`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    pub(super) kind: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) arn: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) account_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) principal_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) invoked_by: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) identity_provider: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) session_context: Option<SessionContext<'a>>,
    #[serde(borrow)]
    pub(super) on_behalf_of: Option<OnBehalfOf<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionContext<'a> {
    #[serde(borrow)]
    pub(super) session_issuer: Option<SessionIssuer<'a>>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub(super) struct SessionIssuer<'a> {
    #[serde(borrow)]
    pub(super) arn: Option<Str<'a>>,
}

/// `userIdentity.onBehalfOf`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) struct OnBehalfOf<'a> {
    #[serde(borrow)]
    pub(super) user_id: Option<Str<'a>>,
}

/// The record's fields: the fast pass, else serde_json (which also gives
/// the error of a record that is not one).
pub(super) fn parse(bytes: &[u8]) -> Result<Record<'_>, serde_json::Error> {
    match read(bytes) {
        Some(r) => Ok(r),
        None => parse_serde(bytes),
    }
}

/// The record's fields by serde_json alone: one UTF-8 check of the whole
/// record, then the str reader (which skips the per-string checks); invalid
/// UTF-8 gets from_slice's own answer.
pub(super) fn parse_serde(bytes: &[u8]) -> Result<Record<'_>, serde_json::Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// The fast pass: the fields, or `None` where serde_json must decide.
pub(super) fn read(bytes: &[u8]) -> Option<Record<'_>> {
    let mut p = Pass { b: bytes, i: 0 };
    p.ws();
    let mut rec = Record::default();
    let mut seen = 0u16;
    p.object(1, |p, key| {
        let slot = match key {
            b"eventType" => (0, &mut rec.event_type),
            b"errorCode" => (1, &mut rec.error_code),
            b"errorMessage" => (2, &mut rec.error_message),
            b"eventSource" => (3, &mut rec.event_source),
            b"eventName" => (4, &mut rec.event_name),
            b"awsRegion" => (5, &mut rec.aws_region),
            b"eventTime" => (6, &mut rec.event_time),
            b"eventID" => (7, &mut rec.event_id),
            b"sharedEventID" => (8, &mut rec.shared_event_id),
            b"vpcEndpointId" => (9, &mut rec.vpc_endpoint_id),
            b"recipientAccountId" => (10, &mut rec.recipient_account_id),
            b"insightDetails" => {
                once(&mut seen, 11)?;
                rec.insight_details = p.raw(2)?;
                return Some(());
            }
            b"requestParameters" => {
                once(&mut seen, 12)?;
                rec.request_parameters = p.raw(2)?;
                return Some(());
            }
            b"resources" => {
                once(&mut seen, 13)?;
                rec.resources = p.raw(2)?;
                return Some(());
            }
            b"userIdentity" => {
                once(&mut seen, 14)?;
                rec.user_identity = p.user_identity()?;
                return Some(());
            }
            _ => return p.value(2),
        };
        once(&mut seen, slot.0)?;
        *slot.1 = p.str_or_null()?;
        Some(())
    })?;
    p.ws();
    (p.i == bytes.len()).then_some(rec)
}

/// Mark field `n` seen; `None` (serde_json decides: a duplicate field)
/// when it was already.
#[inline(always)]
fn once(seen: &mut u16, n: u16) -> Option<()> {
    if *seen & 1 << n != 0 {
        return None;
    }
    *seen |= 1 << n;
    Some(())
}

/// Eight copies of a byte.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

const LO: u64 = splat(0x01);
const HI: u64 = splat(0x80);

/// A mark in the high bit of each byte of `w` that is `"`, `\` or below
/// 0x20 (the bytes a string's scan stops at). Borrows between bytes only
/// mark bytes after a true mark, so the lowest mark is exact.
#[inline(always)]
fn stops(w: u64) -> u64 {
    let quote = w ^ splat(b'"');
    let backslash = w ^ splat(b'\\');
    let zero = |x: u64| x.wrapping_sub(LO) & !x;
    (zero(quote) | zero(backslash) | w.wrapping_sub(splat(0x20)) & !w) & HI
}

/// What a string's bytes hold.
#[derive(Debug, Clone, Copy)]
struct Body {
    /// A backslash escape.
    escaped: bool,
    /// Only ASCII bytes.
    ascii: bool,
}

/// `bytes` as text, when UTF-8 (`ascii`: known to be ASCII, so no check).
#[inline(always)]
fn text(bytes: &[u8], ascii: bool) -> Option<&str> {
    if ascii {
        debug_assert!(bytes.is_ascii());
        // SAFETY: ASCII bytes are UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// From `i`, the position of the first `"`, `\` or control byte of `b`
/// (`b.len()` if none), and whether every byte before it is ASCII.
#[inline(always)]
fn to_stop(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut high = 0u64;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is part of the x86-64 baseline; the load reads the
            // 16 bytes at `i`, inside `b` (checked just above).
            let (stop, hi) = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                // x < 0x20 exactly when min(x, 0x1f) == x.
                let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
                let stop = _mm_or_si128(_mm_or_si128(quote, slash), ctl);
                (_mm_movemask_epi8(stop) as u32, _mm_movemask_epi8(v) as u32)
            };
            if stop != 0 {
                let k = stop.trailing_zeros();
                return (i + k as usize, high == 0 && hi & ((1 << k) - 1) == 0);
            }
            high |= u64::from(hi);
            i += 16;
        }
    }
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let m = stops(w);
        if m != 0 {
            let k = m.trailing_zeros() / 8;
            // The high bits of the bytes before the stop.
            let before = if k == 0 {
                0
            } else {
                w & HI & (u64::MAX >> (64 - 8 * k))
            };
            return (i + k as usize, high == 0 && before == 0);
        }
        high |= w & HI;
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        high |= u64::from(c & 0x80);
        i += 1;
    }
    (i, high == 0)
}

/// The walk over a record's bytes.
struct Pass<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Pass<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skip JSON whitespace.
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Take `c` after optional whitespace.
    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// A string starting at the current `"`: the bytes between its quotes,
    /// and what they hold. Escapes are checked as serde_json checks them
    /// (`\u` takes four hex digits), control bytes refused.
    #[inline]
    fn string(&mut self) -> Option<(&'a [u8], Body)> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        let start = self.i + 1;
        let mut i = start;
        let mut body = Body {
            escaped: false,
            ascii: true,
        };
        loop {
            let (at, ascii) = to_stop(self.b, i);
            body.ascii &= ascii;
            i = at;
            match *self.b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((&self.b[start..i], body));
                }
                b'\\' => {
                    body.escaped = true;
                    match *self.b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let hex = self.b.get(i + 2..i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                // A control byte (the only other stop).
                _ => return None,
            }
        }
    }

    /// A kept string value, or `null`.
    fn str_or_null(&mut self) -> Option<Option<Str<'a>>> {
        self.ws();
        match self.peek()? {
            b'"' => {
                let at = self.i;
                let (bytes, body) = self.string()?;
                if body.escaped {
                    // Rare: let serde_json unescape exactly this token.
                    let token = std::str::from_utf8(&self.b[at..self.i]).ok()?;
                    let s: Cow<'a, str> = serde_json::from_str(token).ok()?;
                    return Some(Some(Str(s)));
                }
                Some(Some(Str(Cow::Borrowed(text(bytes, body.ascii)?))))
            }
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// A kept value as its text, or `null`.
    fn raw(&mut self, depth: u32) -> Option<Option<Raw<'a>>> {
        self.ws();
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|()| None);
        }
        let start = self.i;
        self.value(depth)?;
        let text = simdutf8::basic::from_utf8(&self.b[start..self.i]).ok()?;
        Some(Some(Raw(text)))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// A number, by JSON's grammar (no leading zeros, digits after `.` and
    /// the exponent).
    fn number(&mut self) -> Option<()> {
        let digits = |p: &mut Pass<'_>| {
            let from = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.i > from
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            digits(self).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            digits(self).then_some(())?;
        }
        Some(())
    }

    /// Skip one value of any kind, checking it.
    fn value(&mut self, depth: u32) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth, |p, _| p.value(depth + 1)),
            b'[' => self.array(depth),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn array(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An object at the current `{`, each member's key handed to `member`,
    /// which reads its value. Keys holding an escape, or bytes that are
    /// not UTF-8, go to serde_json.
    #[inline]
    fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Pass<'a>, &[u8]) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH || self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let (key, body) = self.string()?;
            if body.escaped || text(key, body.ascii).is_none() {
                return None;
            }
            self.eat(b':')?;
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `{` or `null`, else serde_json decides (it would also take an
    /// array for a struct).
    fn open_or_null(&mut self) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b'{' => Some(true),
            b'n' => self.literal(b"null").map(|()| false),
            _ => None,
        }
    }

    fn user_identity(&mut self) -> Option<Option<UserIdentity<'a>>> {
        if !self.open_or_null()? {
            return Some(None);
        }
        let mut u = UserIdentity::default();
        let mut seen = 0u16;
        self.object(2, |p, key| {
            let slot = match key {
                b"type" => (0, &mut u.kind),
                b"arn" => (1, &mut u.arn),
                b"accountId" => (2, &mut u.account_id),
                b"principalId" => (3, &mut u.principal_id),
                b"invokedBy" => (4, &mut u.invoked_by),
                b"identityProvider" => (5, &mut u.identity_provider),
                b"sessionContext" => {
                    once(&mut seen, 6)?;
                    u.session_context = p.session_context()?;
                    return Some(());
                }
                b"onBehalfOf" => {
                    once(&mut seen, 7)?;
                    u.on_behalf_of = p
                        .one_str(b"userId", 3)?
                        .map(|user_id| OnBehalfOf { user_id });
                    return Some(());
                }
                _ => return p.value(3),
            };
            once(&mut seen, slot.0)?;
            *slot.1 = p.str_or_null()?;
            Some(())
        })?;
        Some(Some(u))
    }

    fn session_context(&mut self) -> Option<Option<SessionContext<'a>>> {
        if !self.open_or_null()? {
            return Some(None);
        }
        let mut c = SessionContext::default();
        let mut seen = false;
        self.object(3, |p, key| {
            if key != b"sessionIssuer" {
                return p.value(4);
            }
            (!seen).then_some(())?;
            seen = true;
            c.session_issuer = p.one_str(b"arn", 4)?.map(|arn| SessionIssuer { arn });
            Some(())
        })?;
        Some(Some(c))
    }

    /// An object of which one string field is kept (`null` is `None`;
    /// an object without the field is `Some(None)`).
    #[allow(clippy::type_complexity)]
    fn one_str(&mut self, name: &[u8], depth: u32) -> Option<Option<Option<Str<'a>>>> {
        if !self.open_or_null()? {
            return Some(None);
        }
        let mut kept = None;
        let mut seen = false;
        self.object(depth, |p, key| {
            if key != name {
                return p.value(depth + 1);
            }
            (!seen).then_some(())?;
            seen = true;
            kept = p.str_or_null()?;
            Some(())
        })?;
        Some(Some(kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast pass agrees with serde_json wherever it answers.
    fn agrees(json: &[u8]) {
        if let Some(fast) = read(json) {
            match parse_serde(json) {
                Ok(slow) => assert_eq!(fast, slow, "{}", String::from_utf8_lossy(json)),
                Err(e) => panic!(
                    "fast pass took what serde_json refuses ({e}): {}",
                    String::from_utf8_lossy(json)
                ),
            }
        }
    }

    #[test]
    fn stops_marks_the_first_byte_that_matters() {
        for pos in 0..8 {
            for stop in [b'"', b'\\', 0u8, 0x1f] {
                let mut w = [b'a'; 8];
                w[pos] = stop;
                // A later byte that borrows must not move the first mark.
                if pos < 7 {
                    w[pos + 1] = 0x01;
                }
                let m = stops(u64::from_le_bytes(w));
                assert_eq!((m.trailing_zeros() / 8) as usize, pos, "{w:?}");
            }
        }
        assert_eq!(stops(u64::from_le_bytes(*b"ab cd\x7f\xff\x80")), 0);
    }

    #[test]
    fn to_stop_agrees_with_a_byte_loop() {
        let naive = |b: &[u8], i: usize| {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .map_or(b.len(), |k| i + k);
            (end, b[i..end].is_ascii())
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..80 {
            for _ in 0..200 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Mostly letters; now and then a stop or a high byte.
                        match x % 40 {
                            0 => b'"',
                            1 => b'\\',
                            2 => (x >> 8) as u8 & 0x1f,
                            3 | 4 => 0x80 | (x >> 8) as u8,
                            _ => b'a' + (x % 26) as u8,
                        }
                    })
                    .collect();
                for i in 0..=len {
                    assert_eq!(to_stop(&b, i), naive(&b, i), "{b:?} from {i}");
                }
            }
        }
    }

    #[test]
    fn reads_a_record_as_serde_json_does() {
        let rec = br#" {"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::123456789012:assumed-role/R/s","accountId":"123456789012","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::123456789012:role/R"},"attributes":{"mfaAuthenticated":"false","creationDate":"2024-05-01T00:00:00Z"}},"onBehalfOf":{"userId":"u-1","identityStoreArn":"x"}},"eventTime":"2024-05-01T12:00:00Z","eventSource":"iam.amazonaws.com","eventName":"PassRole","awsRegion":"us-east-1","errorCode":"AccessDenied","errorMessage":"User: \"x\" is not authorized to perform: iam:PassRole \u00e9","requestParameters":{"a":[1,-2.5e+3,0.0,true,false,null,{"b":"\\"}]},"responseElements":null,"resources":[{"ARN":"arn:aws:iam::1:role/x"}],"eventID":"e","readOnly":false,"recipientAccountId":"123456789012","vpcEndpointId":"vpce-1","insightDetails":null} "#;
        let fast = read(rec).expect("the fast pass reads it");
        assert_eq!(fast, parse_serde(rec).unwrap());
        assert_eq!(
            fast.error_code.as_ref().and_then(Str::get),
            Some("AccessDenied")
        );
        assert!(matches!(
            fast.error_message.as_ref().map(|m| &m.0),
            Some(Cow::Owned(m)) if m.starts_with("User: \"x\"") && m.ends_with('é')
        ));
        assert_eq!(
            fast.user_identity
                .as_ref()
                .and_then(|u| u.session_context.as_ref())
                .and_then(|c| c.session_issuer.as_ref())
                .and_then(|i| i.arn.as_ref())
                .and_then(Str::get),
            Some("arn:aws:iam::123456789012:role/R")
        );
        assert_eq!(
            fast.request_parameters.map(|r| r.get()),
            Some(r#"{"a":[1,-2.5e+3,0.0,true,false,null,{"b":"\\"}]}"#)
        );
        assert!(fast.insight_details.is_none());
    }

    #[test]
    fn leaves_to_serde_json_what_it_does_not_handle() {
        for json in [
            &br#"{"errorCode":"A","errorCode":"B"}"#[..],
            br#"{"errorCode":null,"errorCode":"B"}"#,
            br#"{"error\u0043ode":"A"}"#,
            br#"{"errorCode":1}"#,
            br#"{"userIdentity":"x"}"#,
            br#"{"userIdentity":["IAMUser"]}"#,
            br#"{"userIdentity":{"arn":"a","arn":"b"}}"#,
            br#"["AccessDenied"]"#,
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":-}"#,
            br#"{"a":1e}"#,
            br#"{"a":"\x"}"#,
            br#"{"a":"\u12g4"}"#,
            b"{\"a\":\"\x01\"}",
            br#"{"a":tru}"#,
            br#"{"a":1,}"#,
            br#"{"a":1} x"#,
            br#"{"a" 1}"#,
            b"{\"errorMessage\":\"\xff\"}",
            b"{\"\xff\":1}",
            b"{\"requestParameters\":{\"k\":\"\xff\"}}",
            br#"{"errorMessage":"\ud800"}"#,
            br#""#,
        ] {
            assert!(read(json).is_none(), "{}", String::from_utf8_lossy(json));
            agrees(json);
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(read(deep.as_bytes()).is_none());
        // What serde_json takes without a word, the fast pass takes too.
        for json in [
            &b"{\"other\":\"\xff\"}"[..],
            br#"{"other":1,"other":2}"#,
            br#"{}"#,
            b"\t{ \"errorCode\" : \"AccessDenied\" ,\r\n\"x\":[ ] }\n",
        ] {
            assert!(read(json).is_some(), "{}", String::from_utf8_lossy(json));
            agrees(json);
        }
    }

    #[test]
    fn every_cut_and_byte_change_agrees_with_serde_json() {
        let rec = br#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","sessionContext":{"sessionIssuer":{"arn":"x"}},"onBehalfOf":{"userId":"u"}},"eventTime":"t","errorCode":"AccessDenied","errorMessage":"m \"q\"","requestParameters":{"n":[-0.5e3,true,null]},"resources":[{"ARN":"r"}],"eventID":"e"}"#;
        for cut in 0..rec.len() {
            agrees(&rec[..cut]);
        }
        for at in 0..rec.len() {
            for b in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'x', b' ', 0x01, 0xff,
            ] {
                let mut m = rec.to_vec();
                m[at] = b;
                agrees(&m);
                m.insert(at, b);
                agrees(&m);
            }
            let mut m = rec.to_vec();
            m.remove(at);
            agrees(&m);
        }
    }
}
