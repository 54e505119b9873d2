//! The rules file: every preset of the product as data (TOML), read and checked once at
//! start-up into the typed policy of [`crate::domain::policy`]. Errors name the file, the
//! field and the problem. `docs/rules.md` documents every field.

use std::fmt;
use std::path::Path;

pub use crate::domain::policy::Rules;

/// The rules shipped with the product (`config/rules.toml`).
pub const DEFAULT_RULES: &str = include_str!("../../../config/rules.toml");
/// Environment variable naming a rules file to use instead of the shipped one.
pub const RULES_ENV: &str = "ORDERFLOW_RULES";

/// Longest text a rules file may hold in one value. Rules text (reasons, flags,
/// notification templates) is copied into stored items and messages, which have size
/// limits of their own; a template is the longest thing a rules file needs.
pub const MAX_RULE_TEXT_CHARS: usize = 4000;
/// Most entries in one array or table of a rules file.
pub const MAX_RULE_ENTRIES: usize = 1000;

/// Refuses text values and collections too large to be rules, naming the first one.
fn check_lengths(value: &toml::Value, path: &str) -> Result<(), (String, String)> {
    let child = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        toml::Value::String(s) if s.chars().nth(MAX_RULE_TEXT_CHARS).is_some() => {
            Err((path.to_string(), format!("must be at most {MAX_RULE_TEXT_CHARS} characters")))
        }
        toml::Value::Array(items) if items.len() > MAX_RULE_ENTRIES => {
            Err((path.to_string(), format!("must have at most {MAX_RULE_ENTRIES} entries")))
        }
        toml::Value::Table(table) if table.len() > MAX_RULE_ENTRIES => {
            Err((path.to_string(), format!("must have at most {MAX_RULE_ENTRIES} entries")))
        }
        toml::Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, item)| check_lengths(item, &format!("{path}[{i}]")))
        }
        toml::Value::Table(table) => table.iter().try_for_each(|(key, item)| check_lengths(item, &child(key))),
        _ => Ok(()),
    }
}

/// A rules file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub file: String,
    pub field: String,
    pub problem: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rules file {}: {}: {}", self.file, self.field, self.problem)
    }
}

impl std::error::Error for RulesError {}

impl Rules {
    /// The shipped defaults.
    #[allow(clippy::expect_used, reason = "the shipped file is compiled in and parsed by a test")]
    pub fn defaults() -> Rules {
        Rules::parse("config/rules.toml (built in)", DEFAULT_RULES).expect("the shipped rules file is valid")
    }

    /// Reads `path`, or the file named by `ORDERFLOW_RULES`, or the shipped defaults.
    pub fn load(path: Option<&Path>) -> Result<Rules, RulesError> {
        let from_env = std::env::var_os(RULES_ENV).map(std::path::PathBuf::from);
        match path.map(Path::to_path_buf).or(from_env) {
            None => Ok(Rules::defaults()),
            Some(path) => {
                let file = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| RulesError {
                    file: file.clone(),
                    field: "(file)".into(),
                    problem: format!("cannot be read: {e}"),
                })?;
                Rules::parse(&file, &text)
            }
        }
    }

    pub fn parse(file: &str, text: &str) -> Result<Rules, RulesError> {
        let error = |field: String, problem: String| RulesError { file: file.to_string(), field, problem };
        let tree: toml::Value = toml::from_str(text).map_err(|e| error("(syntax)".into(), e.to_string()))?;
        check_lengths(&tree, "").map_err(|(field, problem)| error(field, problem))?;
        let de = toml::Deserializer::parse(text).map_err(|e| error("(syntax)".into(), e.to_string()))?;
        let rules: Rules = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            error(if field == "." { "(top level)".into() } else { field }, e.inner().message().to_string())
        })?;
        rules.validate().map_err(|(field, problem)| error(field, problem))?;
        if rules.audit.claim_seconds.is_some() {
            tracing::warn!(
                file,
                "audit.claim_seconds is no longer used (a tick acts in one conditional write); remove it"
            );
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod audit_tests;
#[cfg(test)]
mod fulfilment_tests;
#[cfg(test)]
mod refund_tests;
#[cfg(test)]
mod tests;
