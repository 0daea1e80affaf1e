//! `[[step_up]]`: dashboard paths that need a second factor passed
//! recently, whatever the session's age (matched by `policy::step_up`).

use super::file::RawStepUp;

/// A path prefix whose requests need a second factor passed within
/// `max_age_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUp {
    pub path_prefix: String,
    pub max_age_secs: u64,
}

/// The rules, longest prefix first so the most specific one applies.
pub(super) fn validate(raw: Vec<RawStepUp>, gateway_prefix: &str) -> Result<Vec<StepUp>, (&'static str, String)> {
    let mut rules = Vec::new();
    for s in raw {
        if !s.path_prefix.starts_with('/') || s.path_prefix.starts_with(gateway_prefix) {
            return Err((
                "step_up.path_prefix",
                format!("{:?}: a path of the dashboard, starting with /", s.path_prefix),
            ));
        }
        let max_age_secs = super::bounded("step_up.max_age_seconds", Some(s.max_age_seconds), 300, 30..=86_400)?;
        rules.push(StepUp {
            // Matched in any case (see `policy::step_up`).
            path_prefix: s.path_prefix.to_lowercase(),
            max_age_secs,
        });
    }
    rules.sort_by_key(|s| std::cmp::Reverse(s.path_prefix.len()));
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path_prefix: &str, max_age_seconds: u64) -> RawStepUp {
        RawStepUp {
            path_prefix: path_prefix.into(),
            max_age_seconds,
        }
    }

    #[test]
    fn rules_are_dashboard_paths_kept_longest_first() {
        let rules = validate(vec![raw("/Settings", 60), raw("/settings/billing", 300)], "/_2fa").unwrap();
        assert_eq!(rules[0].path_prefix, "/settings/billing");
        assert_eq!(rules[1].path_prefix, "/settings", "lowercased");
        assert_eq!(
            validate(vec![raw("/_2fa/settings", 60)], "/_2fa").unwrap_err().0,
            "step_up.path_prefix"
        );
        assert_eq!(
            validate(vec![raw("billing", 60)], "/_2fa").unwrap_err().0,
            "step_up.path_prefix"
        );
        assert_eq!(
            validate(vec![raw("/b", 5)], "/_2fa").unwrap_err().0,
            "step_up.max_age_seconds"
        );
    }
}
