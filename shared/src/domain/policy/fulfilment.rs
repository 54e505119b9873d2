//! The `[fulfilment]` section of the rules file: the fulfilment systems, the status
//! parameter table and, per business type, the staged strategy.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What a reported status value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StatusClass {
    Normal,
    Exception,
    End,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentRules {
    pub systems: Vec<String>,
    pub statuses: BTreeMap<String, StatusClass>,
    pub strategies: BTreeMap<String, Strategy>,
}

/// A system reporting a status value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub system: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The status that starts this stage.
    pub after: Trigger,
    pub trigger: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub first: Vec<String>,
    #[serde(default)]
    pub stages: Vec<Stage>,
    pub end: Trigger,
    /// Processing node → the systems an exception there recalls (those triggered).
    pub nodes: BTreeMap<String, Vec<String>>,
}

impl FulfilmentRules {
    pub fn class(&self, status: &str) -> Option<StatusClass> {
        self.statuses.get(status).copied()
    }
}

impl Strategy {
    /// The index of the stage a system belongs to: 0 for the first set.
    pub fn stage_of(&self, system: &str) -> Option<usize> {
        if self.first.iter().any(|s| s == system) {
            return Some(0);
        }
        self.stages.iter().position(|st| st.trigger.iter().any(|s| s == system)).map(|i| i.saturating_add(1))
    }

    /// Every system the strategy can trigger.
    pub fn systems(&self) -> BTreeSet<&str> {
        self.first.iter().chain(self.stages.iter().flat_map(|s| &s.trigger)).map(String::as_str).collect()
    }
}

type Problem = (String, String);

impl FulfilmentRules {
    /// Refuses a strategy that names an unknown system or status, has a stage no status
    /// can trigger, or can never reach its end.
    pub fn validate(&self, business_types: &[String]) -> Result<(), Problem> {
        let fail = |field: String, problem: String| Err((format!("fulfilment.{field}"), problem));
        if self.systems.is_empty() {
            return fail("systems".into(), "must name at least one fulfilment system".into());
        }
        for business_type in business_types {
            if !self.strategies.contains_key(business_type) {
                return fail(
                    format!("strategies.{business_type}"),
                    "is required: every business type needs a strategy".into(),
                );
            }
        }
        for (name, strategy) in &self.strategies {
            self.validate_strategy(&format!("strategies.{name}"), strategy)
                .map_err(|(f, p)| (format!("fulfilment.{f}"), p))?;
        }
        Ok(())
    }

    fn validate_strategy(&self, at: &str, s: &Strategy) -> Result<(), Problem> {
        let known = |field: String, system: &str| -> Result<(), Problem> {
            if self.systems.iter().any(|k| k == system) {
                Ok(())
            } else {
                Err((field, format!("unknown system {system:?}: add it to fulfilment.systems")))
            }
        };
        if s.first.is_empty() {
            return Err((format!("{at}.first"), "must trigger at least one system".into()));
        }
        for system in &s.first {
            known(format!("{at}.first"), system)?;
        }
        for (i, stage) in s.stages.iter().enumerate() {
            known(format!("{at}.stages[{i}].after.system"), &stage.after.system)?;
        }
        // Walk the stages in order of reachability: a stage is reachable when the system
        // it waits for has been triggered by the first set or a reachable stage.
        let mut reached: BTreeSet<&str> = s.first.iter().map(String::as_str).collect();
        let mut pending: Vec<(usize, &Stage)> = s.stages.iter().enumerate().collect();
        while let Some(pos) = pending.iter().position(|(_, st)| reached.contains(st.after.system.as_str())) {
            let (i, stage) = pending.remove(pos);
            let field = format!("{at}.stages[{i}]");
            if self.class(&stage.after.status) != Some(StatusClass::Normal) {
                return Err((
                    format!("{field}.after.status"),
                    format!("{:?} is not a NORMAL status in fulfilment.statuses", stage.after.status),
                ));
            }
            if stage.trigger.is_empty() {
                return Err((format!("{field}.trigger"), "must trigger at least one system".into()));
            }
            for system in &stage.trigger {
                known(format!("{field}.trigger"), system)?;
                reached.insert(system);
            }
        }
        if let Some((i, stage)) = pending.first() {
            let problem =
                format!("no status can trigger this stage: {:?} is never triggered before it", stage.after.system);
            return Err((format!("{at}.stages[{i}].after.system"), problem));
        }
        if !reached.contains(s.end.system.as_str()) {
            return Err((
                format!("{at}.end.system"),
                format!("{:?} is never triggered, so the flow can never end", s.end.system),
            ));
        }
        if self.class(&s.end.status) != Some(StatusClass::End) {
            return Err((
                format!("{at}.end.status"),
                format!("{:?} is not an END status in fulfilment.statuses", s.end.status),
            ));
        }
        for (node, systems) in &s.nodes {
            for system in systems {
                known(format!("{at}.nodes.{node}"), system)?;
            }
        }
        // Systems report at their own node: without it their statuses could never apply.
        if let Some(missing) = s.systems().into_iter().find(|system| !s.nodes.contains_key(*system)) {
            return Err((
                format!("{at}.nodes"),
                format!("has no node {missing:?}: its statuses could never be applied"),
            ));
        }
        Ok(())
    }
}
