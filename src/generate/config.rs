//! The generator's settings: [`CorpusConfig`], built with
//! [`CorpusConfigBuilder`] and checked once in `build()`.

use serde::{Deserialize, Serialize};

use super::GenerateError;

/// 2024-05-01T00:00:00Z, the default start of a corpus.
const DEFAULT_START_MS: i64 = 1_714_521_600_000;

/// Settings for one corpus. Build with [`CorpusConfig::builder`].
///
/// ```
/// use denytrail::generate::CorpusConfig;
/// let cfg = CorpusConfig::builder().seed(7).records(2000).denial_rate(0.02).build()?;
/// assert_eq!(cfg.records(), 2000);
/// # Ok::<(), denytrail::generate::GenerateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusConfig {
    seed: u64,
    records: u64,
    denial_rate: f64,
    accounts: u32,
    principals: u64,
    start_ms: i64,
    records_per_file: usize,
    mean_gap_ms: u64,
}

impl Default for CorpusConfig {
    fn default() -> CorpusConfig {
        CorpusConfig {
            seed: 0,
            records: 10_000,
            denial_rate: 0.01,
            accounts: 3,
            principals: 50,
            start_ms: DEFAULT_START_MS,
            records_per_file: 300,
            mean_gap_ms: 100,
        }
    }
}

impl CorpusConfig {
    /// A builder starting from the defaults: seed 0, 10 000 records, 1 %
    /// denials, 3 accounts, 50 principals, start 2024-05-01T00:00:00Z,
    /// 300 records per file, 100 ms between events on average.
    pub fn builder() -> CorpusConfigBuilder {
        CorpusConfigBuilder {
            cfg: CorpusConfig::default(),
        }
    }

    /// The seed: the same seed and settings give byte-identical output.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// CloudTrail records to write, duplicates and Insight records included.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Fraction of distinct events that are authorization denials.
    pub fn denial_rate(&self) -> f64 {
        self.denial_rate
    }

    /// Number of AWS accounts the records come from.
    pub fn accounts(&self) -> u32 {
        self.accounts
    }

    /// Number of distinct IAM principals (users and roles) that make calls.
    pub fn principals(&self) -> u64 {
        self.principals
    }

    /// Time of the first event, Unix milliseconds.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Records per CloudTrail file (files also end at each 5-minute window).
    pub fn records_per_file(&self) -> usize {
        self.records_per_file
    }

    /// Mean time between two events, milliseconds.
    pub fn mean_gap_ms(&self) -> u64 {
        self.mean_gap_ms
    }
}

/// Builds a [`CorpusConfig`]; [`CorpusConfigBuilder::build`] checks it.
#[derive(Debug, Clone)]
pub struct CorpusConfigBuilder {
    cfg: CorpusConfig,
}

impl CorpusConfigBuilder {
    /// Set the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }

    /// Set the number of CloudTrail records (duplicates and Insight records
    /// included).
    pub fn records(mut self, records: u64) -> Self {
        self.cfg.records = records;
        self
    }

    /// Set the fraction of distinct events that are denials, in `0.0..=1.0`.
    pub fn denial_rate(mut self, rate: f64) -> Self {
        self.cfg.denial_rate = rate;
        self
    }

    /// Set the number of accounts (1 to 100 000).
    pub fn accounts(mut self, accounts: u32) -> Self {
        self.cfg.accounts = accounts;
        self
    }

    /// Set the number of distinct principals (1 to 2^40; millions are fine:
    /// principals are derived from their index, never stored).
    pub fn principals(mut self, principals: u64) -> Self {
        self.cfg.principals = principals;
        self
    }

    /// Set the time of the first event.
    pub fn start(mut self, start: chrono::DateTime<chrono::Utc>) -> Self {
        self.cfg.start_ms = start.timestamp_millis();
        self
    }

    /// Set the time of the first event, Unix milliseconds.
    pub fn start_ms(mut self, start_ms: i64) -> Self {
        self.cfg.start_ms = start_ms;
        self
    }

    /// Set the number of records per CloudTrail file (1 to 1 000 000).
    pub fn records_per_file(mut self, n: usize) -> Self {
        self.cfg.records_per_file = n;
        self
    }

    /// Set the mean time between events, milliseconds (0 to one day).
    pub fn mean_gap_ms(mut self, ms: u64) -> Self {
        self.cfg.mean_gap_ms = ms;
        self
    }

    /// Check the settings.
    pub fn build(self) -> Result<CorpusConfig, GenerateError> {
        let c = self.cfg;
        let bad = |msg: String| Err(GenerateError::InvalidConfig(msg));
        if !(c.denial_rate.is_finite() && (0.0..=1.0).contains(&c.denial_rate)) {
            return bad(format!(
                "denial rate must be between 0 and 1, got {}",
                c.denial_rate
            ));
        }
        if !(1..=100_000).contains(&c.accounts) {
            return bad(format!(
                "accounts must be between 1 and 100000, got {}",
                c.accounts
            ));
        }
        if !(1..=1u64 << 40).contains(&c.principals) {
            return bad(format!(
                "principals must be between 1 and 2^40, got {}",
                c.principals
            ));
        }
        if !(1..=1_000_000).contains(&c.records_per_file) {
            return bad(format!(
                "records per file must be between 1 and 1000000, got {}",
                c.records_per_file
            ));
        }
        if c.mean_gap_ms > 86_400_000 {
            return bad(format!(
                "mean gap must be at most one day, got {} ms",
                c.mean_gap_ms
            ));
        }
        // Keep every event time inside years 1970..=9999.
        if !(0..=253_000_000_000_000).contains(&c.start_ms) {
            return bad(format!("start time out of range: {} ms", c.start_ms));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_settings() {
        let b = CorpusConfig::builder;
        assert!(b().denial_rate(1.5).build().is_err());
        assert!(b().denial_rate(f64::NAN).build().is_err());
        assert!(b().accounts(0).build().is_err());
        assert!(b().principals(0).build().is_err());
        assert!(b().records_per_file(0).build().is_err());
        assert!(b().start_ms(-1).build().is_err());
        assert!(
            b().denial_rate(0.0001)
                .principals(1_000_000)
                .build()
                .is_ok()
        );
        assert!(b().denial_rate(0.2).build().is_ok());
    }
}
