//! A whole embedded backend with a manual clock, for handler tests and benchmarks.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::{EmbeddedBus, EmbeddedStore};
use crate::adapters::clock::{ManualClock, SequentialIds};
use crate::app::Deps;
use crate::error::StoreError;
use crate::messages::relay::relay_change;
use crate::ports::{Item, OutboundMessage};
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

    /// Runs the outbox relay over the store's change feed until it is empty, as the
    /// local runtime's pump does; returns how many messages it published.
    pub async fn relay(&self) -> crate::Result<usize> {
        relay_feed(&self.deps, &self.store).await
    }

    /// Every message published to `topic`, oldest first, once the outbox relay has sent
    /// what the writes so far carry.
    pub async fn published(&self, topic: &str) -> Vec<super::Published> {
        if let Err(e) = self.relay().await {
            tracing::warn!(error = %e, "relaying the outbox failed");
        }
        self.bus.published(topic).unwrap_or_default()
    }

    /// The `type` of every message published to `topic`, oldest first (see
    /// [`World::published`]).
    pub async fn kinds(&self, topic: &str) -> Vec<String> {
        self.published(topic).await.iter().map(|m| m.attributes["type"].clone()).collect()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// Relays every change in `store`'s feed, oldest first, trimming each once its messages
/// are out; the first failure stops and leaves that change in the feed.
pub async fn relay_feed(deps: &Deps, store: &EmbeddedStore) -> crate::Result<usize> {
    let mut sent = 0;
    loop {
        let changes = store.changes_after(0, 100);
        if changes.is_empty() {
            return Ok(sent);
        }
        for change in changes {
            let outbox = |item: Option<Item>| -> crate::Result<Vec<OutboundMessage>> {
                let messages = item.map(Item::into_outbox).transpose().map_err(StoreError::Corrupt)?;
                Ok(messages.unwrap_or_default())
            };
            let (old, new) = (outbox(change.old)?, outbox(change.new)?);
            sent += relay_change(deps, &old, new).await?;
            store.trim_through(change.sequence);
        }
    }
}
