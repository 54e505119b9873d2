//! Wrappers around the runtime's store, publisher and queue client that log every
//! effect that happened (a write that succeeded, a message published or sent), so a
//! refused request can be checked to have changed nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use orderflow_shared::error::{Error, StoreError};
use orderflow_shared::ports::{
    IndexQuery, Item, Key, OutboundMessage, OutboxEncoding, Page, Publisher, QueueSender, StateStore, Write,
};

#[derive(Default)]
pub struct Effects(Mutex<Vec<String>>);

impl Effects {
    fn log(&self, what: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(what);
    }

    /// How many effects so far; pass it to [`Effects::since`].
    pub fn mark(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn since(&self, mark: usize) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(mark..).unwrap_or_default().to_vec()
    }
}

fn described(write: &Write) -> String {
    let short = |key: &Key| format!("{}/{}", key.pk.chars().take(80).collect::<String>(), key.sk);
    match write {
        Write::Put { item, .. } => format!("put {}", short(&item.key)),
        Write::Delete { key, .. } => format!("delete {}", short(key)),
    }
}

pub struct Store(pub Arc<dyn StateStore>, pub Arc<Effects>);

#[async_trait]
impl StateStore for Store {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.0.get(key).await
    }

    fn outbox_encoding(&self) -> OutboxEncoding {
        self.0.outbox_encoding()
    }

    async fn write(&self, write: Write) -> Result<u64, StoreError> {
        let what = described(&write);
        let version = self.0.write(write).await?;
        self.1.log(what);
        Ok(version)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let what: Vec<String> = writes.iter().map(described).collect();
        self.0.transact(writes).await?;
        what.into_iter().for_each(|w| self.1.log(w));
        Ok(())
    }

    async fn query(&self, query: IndexQuery) -> Result<Page, StoreError> {
        self.0.query(query).await
    }
}

fn kind(attributes: &BTreeMap<String, String>) -> &str {
    attributes.get("type").map_or("?", String::as_str)
}

pub struct Bus(pub Arc<dyn Publisher>, pub Arc<Effects>);

#[async_trait]
impl Publisher for Bus {
    async fn publish(&self, message: &OutboundMessage) -> Result<(), Error> {
        self.0.publish(message).await?;
        self.1.log(format!("publish {} {}", message.topic, kind(&message.attributes)));
        Ok(())
    }
}

/// Logs what the functions send.
pub struct Sender(pub Arc<dyn QueueSender>, pub Arc<Effects>);

#[async_trait]
impl QueueSender for Sender {
    async fn send(&self, queue: &str, body: &str, attributes: &BTreeMap<String, String>) -> Result<(), Error> {
        self.0.send(queue, body, attributes).await?;
        self.1.log(format!("send {queue} {}", kind(attributes)));
        Ok(())
    }
}
