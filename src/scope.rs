//! Which denied actions are kept: by default the seed families
//! (`codeguru-profiler:*` and `iam:PassRole`), or every action, or a list of
//! action globs. IAM action names are matched case-insensitively.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

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
    "invalid --scope glob {pattern:?}: {source} (use e.g. 'codeguru-profiler:*,iam:PassRole' or 'all')"
)]
pub struct ScopeError {
    /// The offending glob.
    pub pattern: String,
    /// Why.
    pub source: globset::Error,
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
                .map_err(|source| ScopeError {
                    pattern: g.to_string(),
                    source,
                })?;
            b.add(glob);
            patterns.push(g.to_string());
        }
        let set = b.build().map_err(|source| ScopeError {
            pattern: patterns.join(","),
            source,
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
