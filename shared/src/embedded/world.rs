//! A whole embedded backend with a manual clock, for handler tests and benchmarks.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::{EmbeddedBus, EmbeddedStore};
use crate::app::Deps;
use crate::clock::{ManualClock, SequentialIds};
use crate::rules::Rules;
use crate::topology::TOPOLOGY;

pub struct World {
    pub deps: Deps,
    pub bus: Arc<EmbeddedBus>,
    pub store: Arc<EmbeddedStore>,
    pub clock: Arc<ManualClock>,
}

impl World {
    /// The shipped rules, the full topology, the clock at 2026-11-22 10:00 UTC.
    pub fn new() -> World {
        World::at(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().unwrap_or_default())
    }

    pub fn at(start: DateTime<Utc>) -> World {
        let clock = Arc::new(ManualClock::new(start));
        let bus = Arc::new(EmbeddedBus::new(TOPOLOGY, clock.clone()));
        let store = Arc::new(EmbeddedStore::default());
        let deps = Deps {
            store: store.clone(),
            publisher: bus.clone(),
            queues: Some(bus.clone()),
            clock: clock.clone(),
            ids: Arc::new(SequentialIds::new("id")),
            rules: Arc::new(Rules::defaults()),
        };
        World { deps, bus, store, clock }
    }

    /// The `type` of every message published to `topic`, oldest first.
    pub fn kinds(&self, topic: &str) -> Vec<String> {
        self.bus.published(topic).unwrap_or_default().iter().map(|m| m.attributes["type"].clone()).collect()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}
