//! What a shard of a sharded replay keeps for `merge`, and how `merge`
//! uses it to give the report one machine would have given.
//!
//! Shards take disjoint sets of inputs, but the same event can be in two
//! inputs (a repeated delivery, or the two copies of a cross-account call),
//! so two shards may both count it. Each shard therefore keeps, besides its
//! groups, one compact record per event it counted: the event's dedup key,
//! its group, and the 32-bit hash prefixes of the values it added to the
//! group's lists ([`Contribution`]), about 40 bytes where a full denial
//! takes a kilobyte or more. `merge` reads the shards in shard order; an
//! event already counted by an earlier shard is taken back out of the later
//! shard's group, value by value, and its recording account moves to the
//! group the first copy was counted in, exactly as one aggregate would have
//! done when it met the second copy.
//!
//! Pure: records are encoded to and decoded from bytes; files are the
//! caller's business.

use serde::{Deserialize, Serialize};

use super::dedup::ExactSet;
use super::group::{Contribution, Group, List};
use super::timeline::{Timeline, event_seconds};
use super::totals::Totals;
use super::{Aggregator, NO_GROUP};
use crate::classify::Denial;
use crate::input::InputError;

/// Version of the shard state format.
pub const STATE_VERSION: u32 = 1;

/// The `shard` of the state a `watch` replica serves in its `/report`
/// (replicas share a queue, not a numbered split of the inputs).
pub const REPLICA: &str = "replica";

/// A shard's groups and counters, written before its event records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// `I/N`.
    pub shard: String,
    /// The scope the shard ran with.
    pub scope: String,
    /// Values listed per list.
    pub list_max: usize,
    /// The counters.
    pub totals: Totals,
    /// The groups, in report order (records refer to them by position).
    pub groups: Vec<Group>,
    /// The listed input errors.
    pub errors: Vec<InputError>,
    /// Denials over time by action.
    pub timeline: Timeline,
    /// Event records that follow.
    pub events: u64,
}

/// A shard's state as it is written: [`ShardState`] borrowing the groups
/// and errors of the finished run.
#[derive(Debug, Clone, Serialize)]
pub struct ShardStateRef<'a> {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// `I/N`.
    pub shard: &'a str,
    /// The scope the shard ran with.
    pub scope: &'a str,
    /// Values listed per list.
    pub list_max: usize,
    /// The counters.
    pub totals: &'a Totals,
    /// The groups, in report order.
    pub groups: &'a [Group],
    /// The listed input errors.
    pub errors: &'a [InputError],
    /// Denials over time by action.
    pub timeline: &'a Timeline,
    /// Event records that follow.
    pub events: u64,
}

/// One counted event, as a shard records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRecord {
    /// A denial counted in group number `group`.
    Denial {
        /// The event's dedup key.
        key: u64,
        /// Its group (a position in [`ShardState::groups`] once written).
        group: u32,
        /// What it added to the group's lists.
        contribution: Contribution,
        /// The 32-bit hash prefix of the account that recorded it.
        account: Option<u32>,
        /// Its event time, in Unix seconds (for the timeline).
        time: Option<i64>,
    },
    /// An authentication failure.
    AuthFailure {
        /// The event's dedup key.
        key: u64,
        /// Its error code.
        code: String,
    },
}

/// A shard record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard event record {index} is damaged: {what}")]
pub struct RecordError {
    /// The record's position.
    pub index: u64,
    /// What is wrong.
    pub what: &'static str,
}

impl EventRecord {
    /// The record of a denial just counted in `group`, if the denial has a
    /// dedup key (one without can never be a repeated delivery).
    pub fn of_denial(d: &Denial, group: u32) -> Option<EventRecord> {
        Some(EventRecord::Denial {
            key: Aggregator::key_of(d)?,
            group,
            contribution: Contribution::of(d),
            account: d.account.as_deref().map(Contribution::account),
            time: d.event_time.as_deref().and_then(event_seconds),
        })
    }

    /// Append the record's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            EventRecord::Denial {
                key,
                group,
                contribution: c,
                account,
                time,
            } => {
                out.push(0);
                out.extend_from_slice(&key.to_le_bytes());
                out.extend_from_slice(&group.to_le_bytes());
                let mut mask = 0u16;
                for (i, f) in c.fields.iter().enumerate() {
                    if f.is_some() {
                        mask |= 1 << i;
                    }
                }
                if account.is_some() {
                    mask |= 1 << ACCOUNT_BIT;
                }
                out.extend_from_slice(&mask.to_le_bytes());
                out.push(
                    u8::from(c.encoded)
                        | u8::from(c.truncated) << 1
                        | u8::from(time.is_some()) << 2,
                );
                for f in c.fields.iter().flatten().chain(account) {
                    out.extend_from_slice(&f.to_le_bytes());
                }
                if let Some(t) = time {
                    out.extend_from_slice(&t.to_le_bytes());
                }
            }
            EventRecord::AuthFailure { key, code } => {
                out.push(1);
                out.extend_from_slice(&key.to_le_bytes());
                let b = code.as_bytes();
                let n = b.len().min(255);
                out.push(n as u8);
                out.extend_from_slice(&b[..n]);
            }
        }
    }

    /// Read one record from the start of `buf`: the record and the bytes
    /// it took, or `None` when `buf` holds less than a whole record.
    pub fn decode(buf: &[u8], index: u64) -> Result<Option<(EventRecord, usize)>, RecordError> {
        let bad = |what| RecordError { index, what };
        let Some(&kind) = buf.first() else {
            return Ok(None);
        };
        let u64_at = |at: usize| {
            buf.get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let u32_at = |at: usize| {
            buf.get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        };
        match kind {
            0 => {
                let (Some(key), Some(group), Some(mask), Some(&flags)) = (
                    u64_at(1),
                    u32_at(9),
                    buf.get(13..15).map(|b| u16::from_le_bytes([b[0], b[1]])),
                    buf.get(15),
                ) else {
                    return Ok(None);
                };
                if mask >> (ACCOUNT_BIT + 1) != 0 {
                    return Err(bad("unknown fields"));
                }
                let mut at = 16;
                let mut c = Contribution {
                    encoded: flags & 1 != 0,
                    truncated: flags & 2 != 0,
                    ..Contribution::default()
                };
                for (i, f) in c.fields.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        let Some(v) = u32_at(at) else { return Ok(None) };
                        *f = Some(v);
                        at += 4;
                    }
                }
                let account = if mask & (1 << ACCOUNT_BIT) != 0 {
                    let Some(v) = u32_at(at) else { return Ok(None) };
                    at += 4;
                    Some(v)
                } else {
                    None
                };
                let time = if flags & 4 != 0 {
                    let Some(t) = u64_at(at) else { return Ok(None) };
                    at += 8;
                    Some(t as i64)
                } else {
                    None
                };
                if flags > 7 {
                    return Err(bad("unknown flags"));
                }
                Ok(Some((
                    EventRecord::Denial {
                        key,
                        group,
                        contribution: c,
                        account,
                        time,
                    },
                    at,
                )))
            }
            1 => {
                let (Some(key), Some(&n)) = (u64_at(1), buf.get(9)) else {
                    return Ok(None);
                };
                let Some(code) = buf.get(10..10 + n as usize) else {
                    return Ok(None);
                };
                let code = std::str::from_utf8(code).map_err(|_| bad("error code is not UTF-8"))?;
                Ok(Some((
                    EventRecord::AuthFailure {
                        key,
                        code: code.to_string(),
                    },
                    10 + n as usize,
                )))
            }
            _ => Err(bad("unknown record kind")),
        }
    }
}

/// The bit of a denial record's field mask that says an account follows.
const ACCOUNT_BIT: u32 = 8;

/// A record that refers to a group the shard does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard {shard}: event record refers to group {group}, the shard has {groups}")]
pub struct UnknownGroup {
    /// The shard's position.
    pub shard: usize,
    /// The group number in the record.
    pub group: u32,
    /// How many groups the shard has.
    pub groups: usize,
}

/// Merges shard states: feed each shard's state, then its records, shard by
/// shard in shard order; then [`finish`](ShardMerger::finish).
///
/// Memory: the shards' groups, and one dedup entry (12 bytes) per distinct
/// event, as a replay of everything would hold.
#[derive(Debug, Default)]
pub struct ShardMerger {
    seen: ExactSet,
    /// Every shard's groups; a group's global number is its shard's offset
    /// plus its position.
    groups: Vec<Group>,
    offsets: Vec<usize>,
    totals: Vec<Totals>,
    errors: Vec<InputError>,
    timeline: Timeline,
    list_max: usize,
    /// Events counted by more than one shard.
    between: u64,
}

impl ShardMerger {
    /// A merger of nothing yet.
    pub fn new() -> ShardMerger {
        ShardMerger::default()
    }

    /// Take the next shard's state; returns its number for
    /// [`event`](ShardMerger::event).
    pub fn shard(&mut self, s: ShardState) -> usize {
        self.offsets.push(self.groups.len());
        self.groups.extend(s.groups);
        self.totals.push(s.totals);
        self.errors.extend(s.errors);
        self.timeline.merge(&s.timeline);
        self.list_max = self.list_max.max(s.list_max);
        self.offsets.len() - 1
    }

    /// One event record of shard `shard` (records of a shard after its
    /// state, shards in order).
    pub fn event(&mut self, shard: usize, rec: &EventRecord) -> Result<(), UnknownGroup> {
        let end = self
            .offsets
            .get(shard + 1)
            .copied()
            .unwrap_or(self.groups.len());
        let start = self.offsets[shard];
        match rec {
            EventRecord::Denial {
                key,
                group,
                contribution,
                account,
                time,
            } => {
                let at = start + *group as usize;
                if at >= end {
                    return Err(UnknownGroup {
                        shard,
                        group: *group,
                        groups: end - start,
                    });
                }
                let Some(first) = self.seen.insert(*key, at as u32) else {
                    return Ok(());
                };
                // Counted by an earlier shard too: take it back here.
                self.between += 1;
                self.groups[at].take_back(contribution);
                let action = self.groups[at].action().to_string();
                self.timeline.take_back(&action, *time);
                let first = first as usize;
                if first != at && first != NO_GROUP as usize {
                    // The copy's recording account goes where the first copy
                    // was counted, as one aggregate does with a duplicate.
                    if let Some(acct) =
                        account.and_then(|p| self.groups[at].take_back_value(List::Accounts, p))
                    {
                        self.groups[first].copy_recorded(Some(&acct));
                    }
                }
            }
            EventRecord::AuthFailure { key, code } => {
                if self.seen.insert(*key, NO_GROUP).is_some() {
                    self.between += 1;
                    if let Some(n) = self.totals[shard].auth_failures.get_mut(code) {
                        *n = n.saturating_sub(1);
                    }
                    self.totals[shard].auth_failures.retain(|_, n| *n > 0);
                }
            }
        }
        Ok(())
    }

    /// Events counted by more than one shard, so far.
    pub fn between_shards(&self) -> u64 {
        self.between
    }

    /// The merged aggregate.
    pub fn finish(self) -> Aggregator {
        let mut agg = Aggregator::builder().list_max(self.list_max.max(1)).build();
        let groups: Vec<Group> = self
            .groups
            .into_iter()
            .filter(|g| g.count > 0)
            .map(|mut g| {
                g.drop_empty();
                g
            })
            .collect();
        for t in &self.totals {
            agg.absorb(t, Vec::new(), Vec::new());
        }
        agg.absorb(&Totals::default(), groups, self.errors);
        agg.absorb_timeline(&self.timeline);
        agg.add_duplicates(self.between);
        agg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let recs = [
            EventRecord::Denial {
                key: 7,
                group: 3,
                contribution: Contribution {
                    fields: [
                        Some(1),
                        None,
                        Some(3),
                        None,
                        Some(5),
                        None,
                        Some(u32::MAX),
                        Some(8),
                    ],
                    encoded: true,
                    truncated: false,
                },
                account: Some(9),
                time: Some(1_714_564_800),
            },
            EventRecord::AuthFailure {
                key: u64::MAX,
                code: "ExpiredToken".into(),
            },
        ];
        let mut buf = Vec::new();
        for r in &recs {
            r.encode(&mut buf);
        }
        let mut at = 0;
        for (i, want) in recs.iter().enumerate() {
            let (got, n) = EventRecord::decode(&buf[at..], i as u64).unwrap().unwrap();
            assert_eq!(&got, want);
            at += n;
        }
        assert_eq!(at, buf.len());
        // A record cut anywhere is incomplete, never misread.
        for cut in 0..buf.len() {
            let first_len = buf.len() - (10 + 12);
            if cut < first_len {
                assert_eq!(EventRecord::decode(&buf[..cut], 0), Ok(None), "{cut}");
            }
        }
        assert!(EventRecord::decode(&[9], 0).is_err());
    }
}
