//! The `[audit]` section of the rules file: reason codes, docking teams, notification
//! templates, the retry window and the attempt schedule.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Placeholders a notification template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "order_id",
    "customer_id",
    "business_type",
    "total",
    "currency",
    "reason_code",
    "reason",
    "audit_status",
    "user_name",
    "user_email",
    "user_phone",
    "first_failure_at",
    "window_ends_at",
    "next_attempt_at",
    "attempts",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRules {
    pub retry_window_minutes: u32,
    pub unknown_reason: UnknownReason,
    /// No longer used: a tick acts on a due order in one conditional write, with no
    /// lease to hold. Accepted so that rules files written for earlier releases load;
    /// start-up logs a warning when it is set.
    #[serde(default)]
    pub claim_seconds: Option<u32>,
    pub final_template: String,
    pub final_severity: String,
    pub attempts: Backoff,
    pub reasons: BTreeMap<String, ReasonRule>,
    pub templates: BTreeMap<String, Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    DeadLetter,
    NotRetryable,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub first_delay_minutes: u32,
    pub multiplier: u32,
    pub max_delay_minutes: u32,
    pub jitter_percent: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonRule {
    pub retryable: bool,
    pub team: String,
    pub severity: String,
    pub template: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

type Problem = (String, String);

impl AuditRules {
    pub fn validate(&self) -> Result<(), Problem> {
        let fail = |field: &str, problem: String| Err((format!("audit.{field}"), problem));
        if self.retry_window_minutes == 0 {
            return fail("retry_window_minutes", "must be at least 1".into());
        }
        self.attempts.validate()?;
        self.check_template("final_template", &self.final_template)?;
        check_severity("audit.final_severity", &self.final_severity)?;
        for (code, reason) in &self.reasons {
            let at = format!("reasons.{code}");
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
                return fail(&at, "reason codes are UPPER_SNAKE_CASE".into());
            }
            if reason.team.trim().is_empty() {
                return fail(&format!("{at}.team"), "must name the docking team".into());
            }
            check_severity(&format!("audit.{at}.severity"), &reason.severity)?;
            self.check_template(&format!("{at}.template"), &reason.template)?;
        }
        for (name, template) in &self.templates {
            check_placeholders(&format!("audit.templates.{name}.subject"), &template.subject)?;
            check_placeholders(&format!("audit.templates.{name}.body"), &template.body)?;
        }
        Ok(())
    }

    fn check_template(&self, field: &str, name: &str) -> Result<(), Problem> {
        if self.templates.contains_key(name) {
            Ok(())
        } else {
            Err((format!("audit.{field}"), format!("no template named {name:?} in [audit.templates]")))
        }
    }
}

impl Backoff {
    fn validate(&self) -> Result<(), Problem> {
        let fail = |field: &str, problem: &str| Err((format!("audit.attempts.{field}"), problem.to_string()));
        if self.first_delay_minutes == 0 {
            return fail("first_delay_minutes", "must be at least 1");
        }
        if self.multiplier == 0 {
            return fail("multiplier", "must be at least 1");
        }
        if self.max_delay_minutes < self.first_delay_minutes {
            return fail("max_delay_minutes", "must not be below first_delay_minutes");
        }
        if self.jitter_percent > 50 {
            return fail("jitter_percent", "must be at most 50");
        }
        Ok(())
    }
}

fn check_severity(field: &str, severity: &str) -> Result<(), Problem> {
    if SEVERITIES.contains(&severity) {
        Ok(())
    } else {
        Err((field.to_string(), format!("{severity:?} is not one of {}", SEVERITIES.join(", "))))
    }
}

/// Every `{name}` in the text must be a known placeholder.
fn check_placeholders(field: &str, text: &str) -> Result<(), Problem> {
    let mut rest = text;
    while let Some((_, after)) = rest.split_once('{') {
        let Some((name, tail)) = after.split_once('}') else {
            return Err((field.to_string(), "has a '{' without its '}'".into()));
        };
        if !PLACEHOLDERS.contains(&name) {
            return Err((
                field.to_string(),
                format!("unknown placeholder {{{name}}}; known: {}", PLACEHOLDERS.join(", ")),
            ));
        }
        rest = tail;
    }
    Ok(())
}

/// Fills `{name}` placeholders from `values` (validated at load, so every name is known).
pub fn render(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        match after.split_once('}') {
            Some((name, tail)) => {
                out.push_str(values.get(name).map(String::as_str).unwrap_or(""));
                rest = tail;
            }
            None => {
                out.push('{');
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_fills_placeholders() {
        let mut values = BTreeMap::new();
        values.insert("order_id", "o-1".to_string());
        assert_eq!(render("Order {order_id}: {reason}.", &values), "Order o-1: .");
    }
}
