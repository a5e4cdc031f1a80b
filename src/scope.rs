//! What is kept of what the classifier finds: which denied actions (by
//! default the seed families `codeguru-profiler:*` and `iam:PassRole`, or
//! every action, or a list of action globs; IAM action names are matched
//! case-insensitively) and which event times (`--since`/`--until`).
//!
//! Sources never filter by time: an S3 archive or a log group may use the
//! range to choose what to fetch, but every record fetched is judged here.

use chrono::{DateTime, Utc};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::time::{key_of, time_key};

/// The default scope's globs.
pub const DEFAULT_GLOBS: &[&str] = &["codeguru-profiler:*", "iam:PassRole"];

/// An action filter.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every denial.
    All,
    /// Denials whose action matches one of the globs.
    Globs {
        /// The globs as written, for reports.
        patterns: Vec<String>,
        /// The compiled set.
        set: GlobSet,
    },
}

/// A glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid --scope glob {pattern:?}: {cause} (use e.g. 'codeguru-profiler:*,iam:PassRole' or 'all')"
)]
pub struct ScopeError {
    /// The offending glob.
    pub pattern: String,
    /// Why.
    pub cause: globset::Error,
}

/// The `--scope` flag's parser: a bad glob is a usage error.
pub fn parse_flag(s: &str) -> Result<Scope, String> {
    Scope::parse(s).map_err(|e| e.to_string())
}

impl Default for Scope {
    fn default() -> Self {
        Scope::from_globs(DEFAULT_GLOBS.iter().copied()).expect("the default globs are valid")
    }
}

impl Scope {
    /// Parse `all`, `default`, or a comma-separated list of globs.
    ///
    /// ```
    /// use denytrail::scope::Scope;
    /// let s = Scope::parse("default").unwrap();
    /// assert!(s.matches("iam:PassRole") && s.matches("codeguru-profiler:ConfigureAgent"));
    /// assert!(!s.matches("s3:GetObject"));
    /// assert!(Scope::parse("all").unwrap().matches("s3:GetObject"));
    /// assert!(Scope::parse("s3:Get*,kms:*").unwrap().matches("S3:GETOBJECT"));
    /// ```
    pub fn parse(spec: &str) -> Result<Scope, ScopeError> {
        match spec.trim() {
            "all" | "*" => Ok(Scope::All),
            "" | "default" => Ok(Scope::default()),
            s => Scope::from_globs(s.split(',').map(str::trim).filter(|g| !g.is_empty())),
        }
    }

    /// Build from globs.
    pub fn from_globs<'a>(globs: impl IntoIterator<Item = &'a str>) -> Result<Scope, ScopeError> {
        let mut b = GlobSetBuilder::new();
        let mut patterns = Vec::new();
        for g in globs {
            let glob = GlobBuilder::new(g)
                .case_insensitive(true)
                .literal_separator(false)
                .build()
                .map_err(|cause| ScopeError {
                    pattern: g.to_string(),
                    cause,
                })?;
            b.add(glob);
            patterns.push(g.to_string());
        }
        let set = b.build().map_err(|cause| ScopeError {
            pattern: patterns.join(","),
            cause,
        })?;
        Ok(Scope::Globs { patterns, set })
    }

    /// Is `action` in scope?
    pub fn matches(&self, action: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Globs { set, .. } => set.is_match(action),
        }
    }

    /// Is a denial in scope: its action, or `iam:PassRole` when the denial
    /// names no action but passes a role ([`Denial::passes`]: an encoded EC2
    /// `RunInstances` with an instance profile, whose usual cause is
    /// PassRole).
    ///
    /// [`Denial::passes`]: crate::classify::Denial::passes
    pub fn matches_denial(&self, d: &crate::classify::Denial) -> bool {
        self.matches(&d.action) || (d.passes.is_some() && self.matches("iam:PassRole"))
    }

    /// How the scope reads in a report (`all` or the globs).
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "all".to_string(),
            Scope::Globs { patterns, .. } => patterns.join(","),
        }
    }
}

/// A time range `[since, until)`; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// Inclusive start.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub until: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Is the range unbounded on both sides?
    pub fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// The range as text: `all`, or `SINCE..UNTIL` in RFC 3339 with either
    /// side empty when unbounded.
    ///
    /// ```
    /// use denytrail::scope::TimeRange;
    /// assert_eq!(TimeRange::default().describe(), "all");
    /// ```
    pub fn describe(&self) -> String {
        if self.is_all() {
            return "all".to_string();
        }
        let side = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        format!("{}..{}", side(self.since), side(self.until))
    }

    /// Does the range hold `t`?
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// What is kept: the scope of actions and the range of event times.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Which actions.
    pub scope: Scope,
    /// Which event times.
    pub range: TimeRange,
    /// The range's bounds as [`time_key`]s (compared without parsing).
    since_key: Option<String>,
    until_key: Option<String>,
}

/// Why a finding was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Its action is outside the scope.
    OutOfScope,
    /// Its event time is outside the range (or unknown while the range is
    /// bounded).
    OutOfRange,
}

impl Selection {
    /// Keep `scope`'s actions in `range`.
    pub fn new(scope: Scope, range: TimeRange) -> Selection {
        Selection {
            scope,
            range,
            since_key: range.since.map(key_of),
            until_key: range.until.map(key_of),
        }
    }

    /// Is an event at `event_time` in the range? An event without a time is
    /// in an unbounded range only.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use denytrail::scope::{Scope, Selection, TimeRange};
    /// let day = TimeRange {
    ///     since: Some(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()),
    ///     until: Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap()),
    /// };
    /// let s = Selection::new(Scope::All, day);
    /// assert!(s.in_range(Some("2024-05-01T23:59:59.999Z")));
    /// assert!(s.in_range(Some("2024-05-01 10:00:00,123")));
    /// assert!(!s.in_range(Some("2024-05-02T00:00:00Z")));
    /// assert!(!s.in_range(None));
    /// assert!(!s.in_range(Some("garbage")));
    /// ```
    pub fn in_range(&self, event_time: Option<&str>) -> bool {
        if self.range.is_all() {
            return true;
        }
        let Some(t) = event_time.filter(|t| crate::frame::timestamp_len(t.as_bytes()) >= 19) else {
            return false;
        };
        let k = time_key(t);
        self.since_key.as_ref().is_none_or(|s| k >= *s)
            && self.until_key.as_ref().is_none_or(|u| k < *u)
    }

    /// Is a denial kept, and if not, why?
    pub fn judge(&self, d: &crate::classify::Denial) -> Result<(), Dropped> {
        if !self.scope.matches_denial(d) {
            return Err(Dropped::OutOfScope);
        }
        if !self.in_range(d.event_time.as_deref()) {
            return Err(Dropped::OutOfRange);
        }
        Ok(())
    }
}

/// The `--since`/`--until` flags, shared by every command that reads a time
/// range.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RangeArgs {
    /// Keep only events at or after this time: RFC 3339
    /// (`2024-05-01T12:00:00Z`), a UTC date (`2024-05-01`), or an age (`90m`,
    /// `6h`, `7d` ago). S3 archives and CloudWatch log groups are also only
    /// fetched from about then.
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Keep only events before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub until: Option<DateTime<Utc>>,
}

fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    crate::time::parse_time(s, Utc::now())
}

/// `--since` is not before `--until`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--since {since} is not before --until {until}: the time range is empty")]
pub struct RangeError {
    /// The start given.
    pub since: DateTime<Utc>,
    /// The end given.
    pub until: DateTime<Utc>,
}

impl RangeArgs {
    /// The range the flags give.
    pub fn range(&self) -> Result<TimeRange, RangeError> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            return Err(RangeError { since, until });
        }
        Ok(TimeRange {
            since: self.since,
            until: self.until,
        })
    }
}
