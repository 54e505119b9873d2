use std::sync::Arc;
use std::time::Instant;

use super::testdir::TestDir;
use super::DataDir;
use crate::adapters::embedded::{EmbeddedStore, NoFaults};
use crate::ports::{Condition, Item, Key, StateStore, Write};

#[tokio::test]
#[ignore]
async fn ten_thousand_writes_of_a_1kb_item() {
    let dir = TestDir::new("bench");
    let data = DataDir::open(dir.path()).unwrap();
    if std::env::var("SYNC").is_ok() {
        let conn = data.shared.conn();
        conn.pragma_update(None, "synchronous", std::env::var("SYNC").unwrap()).unwrap();
    }
    let store = data.store(Arc::new(NoFaults));
    let body = "x".repeat(1000);
    let started = Instant::now();
    for i in 0..10_000 {
        let item = Item::new(Key::new(format!("ORDER#{i}"), "ORDER"), body.clone()).with_index(crate::ports::Index::Gsi1, "C", format!("{i:06}"));
        store.write(Write::Put { item, condition: Condition::Always }).await.unwrap();
    }
    eprintln!("durable: 10,000 writes in {:?}", started.elapsed());
    let started = Instant::now();
    for i in 0..10_000 {
        store.get(&Key::new(format!("ORDER#{i}"), "ORDER")).await.unwrap().unwrap();
    }
    eprintln!("durable: 10,000 gets in {:?}", started.elapsed());
    let mem = EmbeddedStore::default();
    let started = Instant::now();
    for i in 0..10_000 {
        let item = Item::new(Key::new(format!("ORDER#{i}"), "ORDER"), body.clone()).with_index(crate::ports::Index::Gsi1, "C", format!("{i:06}"));
        mem.write(Write::Put { item, condition: Condition::Always }).await.unwrap();
    }
    eprintln!("memory: 10,000 writes in {:?}", started.elapsed());
}
