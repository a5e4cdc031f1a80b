//! The page's filters: principal, action, hint code and a free-text search.
//!
//! The same rules are applied by the page's script on the rows it shows
//! (`templates/page.js`, `matches`); the browser tests check that both
//! narrow the table to the same groups.

use serde::Deserialize;

use super::view::GroupView;

/// What the reader asked to see. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Part of the principal, any case.
    pub principal: String,
    /// The action, exactly.
    pub action: String,
    /// The main hint code, exactly.
    pub hint: String,
    /// Part of any text of the group (resources, sessions, reasons, hint,
    /// policy, …), any case.
    pub q: String,
}

impl Filter {
    /// Does nothing?
    pub fn is_empty(&self) -> bool {
        self.principal.is_empty()
            && self.action.is_empty()
            && self.hint.is_empty()
            && self.q.is_empty()
    }

    pub(super) fn matches(&self, g: &GroupView) -> bool {
        contains_any_case(&g.principal, &self.principal)
            && (self.action.is_empty() || g.action == self.action)
            && (self.hint.is_empty() || g.hint == self.hint)
            && (self.q.is_empty() || contains_any_case(&g.search_text(), &self.q))
    }
}

fn contains_any_case(hay: &str, needle: &str) -> bool {
    needle.is_empty() || hay.to_lowercase().contains(&needle.to_lowercase())
}
