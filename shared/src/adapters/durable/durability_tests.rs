//! Everything a data directory holds is there again once it is reopened.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::testdir::TestDir;
use super::DataDir;
use crate::adapters::embedded::{ChangeFeed, ManualClock, NoFaults, PublishedLog};
use crate::ports::{
    Broker, Condition, Index, IndexQuery, Item, Key, OutboundMessage, Publisher, QueueSender, StateStore, Write,
};
use crate::topology::{FULFILMENT_ORDERS_QUEUE, NOTIFICATIONS_QUEUE, ORDER_EVENTS, TOPOLOGY};

fn put(item: Item) -> Write {
    Write::Put { item, condition: Condition::Always }
}

fn due(pk: &str) -> IndexQuery {
    IndexQuery { index: Index::Gsi2, pk: pk.into(), sk_from: None, sk_to: None, limit: 10, after: None }
}

/// A message for an item's outbox.
fn message() -> OutboundMessage {
    OutboundMessage {
        id: "m-1".into(),
        topic: "order-events".into(),
        body: "{}".into(),
        attributes: BTreeMap::new(),
        via: Default::default(),
    }
}

#[tokio::test]
async fn items_indexes_and_the_change_feed_survive_a_reopen() {
    let dir = TestDir::new("reopen-store");
    let message = message();
    let a = Item::new(Key::new("a", "A"), "1".into()).with_index(Index::Gsi2, "due", "01").with_outbox(vec![message]);
    {
        let store = DataDir::open(dir.path()).unwrap().store(Arc::new(NoFaults));
        store.write(put(a.clone())).await.unwrap();
        store.write(put(a.clone())).await.unwrap();
        store.write(put(Item::new(Key::new("b", "A"), "2".into()))).await.unwrap();
        store.trim_changes(1).unwrap();
    }
    let store = DataDir::open(dir.path()).unwrap().store(Arc::new(NoFaults));
    let read = store.get(&a.key).await.unwrap().unwrap();
    assert_eq!((read.version, &read.body, read.outbox()), (2, &a.body, a.outbox()));
    let page = store.query(due("due")).await.unwrap();
    assert_eq!(page.items.iter().map(|i| i.key.pk.as_str()).collect::<Vec<_>>(), ["a"]);
    let sequences =
        |store: &super::DurableStore| store.read_changes(0, 10).unwrap().iter().map(|c| c.sequence).collect::<Vec<_>>();
    assert_eq!(sequences(&store), [2, 3], "the untrimmed changes");
    assert_eq!(store.read_changes(0, 10).unwrap()[0].old.as_ref().map(|i| i.version), Some(1));
    store.write(Write::Delete { key: a.key.clone(), condition: Condition::VersionIs(2) }).await.unwrap();
    assert_eq!(sequences(&store), [2, 3, 4], "the sequence goes on");
    assert_eq!(store.len().unwrap(), 1);
}

#[tokio::test]
async fn queues_topics_dead_letters_and_the_clock_survive_a_reopen() {
    let dir = TestDir::new("reopen-bus");
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let queue = NOTIFICATIONS_QUEUE;
    let spec = TOPOLOGY.queues.iter().find(|q| q.name == queue).copied().unwrap();
    let saved = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::nanoseconds(123_456_789);
    let before_ids;
    {
        let data = DataDir::open(dir.path()).unwrap();
        let bus = data.bus(TOPOLOGY, clock.clone(), Arc::new(NoFaults));
        // A dead letter: received max_receive_count times and never deleted.
        bus.send(queue, "poison", &BTreeMap::new()).await.unwrap();
        for _ in 0..spec.max_receive_count {
            let got = bus.receive(queue, 10).await.unwrap();
            bus.release(queue, &got[0].receipt, 0).await.unwrap();
        }
        assert!(bus.receive(queue, 10).await.unwrap().is_empty());
        // One queued and one in flight.
        bus.send(queue, "in flight", &BTreeMap::new()).await.unwrap();
        bus.send(queue, "queued", &BTreeMap::new()).await.unwrap();
        let got = bus.receive(queue, 1).await.unwrap();
        assert_eq!(got[0].body, "in flight");
        before_ids = vec![got[0].message_id.clone(), got[0].receipt.clone()];
        let published = OutboundMessage {
            id: "m-1".into(),
            topic: ORDER_EVENTS.into(),
            body: "{\"n\":1}".into(),
            attributes: BTreeMap::from([("type".to_string(), "order.dispatched".to_string())]),
            via: Default::default(),
        };
        bus.publish(&published).await.unwrap();
        data.save_clock(saved).unwrap();
    }
    let data = DataDir::open(dir.path()).unwrap();
    assert_eq!(data.saved_clock().unwrap(), Some(saved), "to the nanosecond");
    let bus = data.bus(TOPOLOGY, clock.clone(), Arc::new(NoFaults));
    let stats = bus.stats(queue).await.unwrap();
    // The runtime that held the in-flight message is gone: it is visible again at once.
    assert_eq!((stats.visible, stats.in_flight, stats.dead_letters), (2, 0, 1));
    assert_eq!(bus.dead_letters(queue).await.unwrap()[0].body, "poison");
    let records = bus.published_on(ORDER_EVENTS).unwrap().unwrap();
    assert_eq!(records.iter().map(|p| p.message.clone()).collect::<Vec<_>>(), [serde_json::json!({"n": 1})]);
    let fanned_out = bus.receive(FULFILMENT_ORDERS_QUEUE, 10).await.unwrap();
    assert_eq!(fanned_out.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["{\"n\":1}"]);

    let received = bus.receive(queue, 10).await.unwrap();
    let got: Vec<_> = received.iter().map(|m| (m.body.as_str(), m.receive_count)).collect();
    assert_eq!(got, [("in flight", 2), ("queued", 1)], "delivered again, its receive count kept");
    assert_eq!(received[0].message_id, before_ids[0], "a message keeps its id");
    // Ids handed out after the restart are new: the message's, its publish's, the receipts.
    bus.send(queue, "after", &BTreeMap::new()).await.unwrap();
    let after = bus.receive(queue, 10).await.unwrap();
    let new_ids = [&after[0].message_id, &after[0].receipt, &received[0].receipt, &received[1].receipt];
    for id in new_ids {
        assert!(!before_ids.contains(id), "ids stay unique across restarts: {id} in {before_ids:?}");
    }
    assert!(!new_ids.contains(&&received[1].message_id), "{:?}", received[1].message_id);
}

#[test]
fn a_directory_never_given_a_clock_has_none() {
    let dir = TestDir::new("clock");
    let data = DataDir::open(dir.path()).unwrap();
    assert_eq!(data.saved_clock().unwrap(), None);
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    data.save_clock(at).unwrap();
    data.save_clock(at + Duration::nanoseconds(1)).unwrap();
    assert_eq!(data.saved_clock().unwrap(), Some(at + Duration::nanoseconds(1)));
}

#[tokio::test]
async fn a_corrupt_row_is_an_error_naming_it_not_a_panic() {
    use crate::error::{Error, StoreError};
    let dir = TestDir::new("corrupt");
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let queue = NOTIFICATIONS_QUEUE;
    {
        let data = DataDir::open(dir.path()).unwrap();
        let store = data.store(Arc::new(NoFaults));
        for pk in ["a", "b", "c"] {
            store
                .write(put(Item::new(Key::new(pk, "A"), "{}".into()).with_index(Index::Gsi2, "due", pk)))
                .await
                .unwrap();
        }
        let bus = data.bus(TOPOLOGY, clock.clone(), Arc::new(NoFaults));
        bus.send(queue, "m", &BTreeMap::new()).await.unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(super::DATABASE_FILE)).unwrap();
    conn.execute_batch(
        "UPDATE items SET outbox = x'00ff' WHERE pk = 'a';
         UPDATE items SET version = 'seven' WHERE pk = 'b';
         UPDATE items SET index_keys = '{\"gsi9\":[\"due\",\"c\"]}' WHERE pk = 'c';
         UPDATE changes SET new = 'not json' WHERE sequence = 2;
         UPDATE messages SET attributes = 'nope';",
    )
    .unwrap();
    drop(conn);

    let data = DataDir::open(dir.path()).unwrap();
    let store = data.store(Arc::new(NoFaults));
    let corrupt = |r: Result<Option<Item>, StoreError>| match r {
        Err(StoreError::Corrupt(why)) => why,
        other => panic!("{other:?}"),
    };
    // An item is read for its state; the outbox it was written with is decoded only
    // when asked for (the relay reads it from the change feed, and parks a record whose
    // outbox it cannot read).
    let a = store.get(&Key::new("a", "A")).await.unwrap().unwrap();
    assert!(a.outbox().unwrap_err().starts_with("the outbox is not deflated"), "{:?}", a.outbox());
    assert!(corrupt(store.get(&Key::new("b", "A")).await).starts_with("item b/A: "));
    assert!(corrupt(store.get(&Key::new("c", "A")).await).contains("unknown index \"gsi9\""));
    let Err(StoreError::Corrupt(why)) = store.read_changes(0, 10) else { panic!("a corrupt change") };
    assert!(why.starts_with("change 2: unreadable image"), "{why}");
    let bus = data.bus(TOPOLOGY, clock, Arc::new(NoFaults));
    let Err(Error::Queue(why)) = bus.receive(queue, 10).await else { panic!("a corrupt message") };
    assert!(why.starts_with(&format!("{queue}: messages row 1 is corrupt: unreadable attributes")), "{why}");
}

#[tokio::test]
async fn a_change_with_a_corrupt_outbox_is_handed_to_the_relay_not_a_stalled_feed() {
    let dir = TestDir::new("corrupt-outbox");
    let message = message();
    {
        let store = DataDir::open(dir.path()).unwrap().store(Arc::new(NoFaults));
        store.write(put(Item::new(Key::new("a", "A"), "1".into()).with_outbox(vec![message.clone()]))).await.unwrap();
        store.write(put(Item::new(Key::new("b", "A"), "2".into()).with_outbox(vec![message]))).await.unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(super::DATABASE_FILE)).unwrap();
    conn.execute_batch("UPDATE changes SET new_outbox = x'00ff' WHERE sequence = 1").unwrap();
    drop(conn);

    let store = DataDir::open(dir.path()).unwrap().store(Arc::new(NoFaults));
    // The feed reads on: the relay gets the record with the bytes as stored, cannot read
    // them, and parks it in its failure queue with the reason (outbox-relay's tests).
    let changes = store.read_changes(0, 10).unwrap();
    assert_eq!(changes.len(), 2);
    let corrupt = changes[0].new.as_ref().unwrap();
    assert!(corrupt.outbox().unwrap_err().starts_with("the outbox is not deflated"), "{:?}", corrupt.outbox());
    let record = crate::adapters::embedded::stream::event_record(&changes[0]);
    assert_eq!(record.change.new_image.get("outbox"), Some(&serde_dynamo::AttributeValue::B(vec![0x00, 0xff])));
    assert_eq!(changes[1].new.as_ref().unwrap().outbox().unwrap().len(), 1);
}

#[tokio::test]
async fn a_full_disk_fails_the_call_whole_says_so_and_keeps_what_was_committed() {
    use crate::error::{Error, StoreError};
    let dir = TestDir::new("full-disk");
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let queue = NOTIFICATIONS_QUEUE;
    let a = Item::new(Key::new("a", "A"), "1".into()).with_index(Index::Gsi2, "due", "a").with_outbox(vec![message()]);
    let big = "x".repeat(200_000);
    let b = Item::new(Key::new("b", "A"), format!("{big:?}")).with_index(Index::Gsi2, "due", "b");
    {
        let data = DataDir::open(dir.path()).unwrap();
        let store = data.store(Arc::new(NoFaults));
        let bus = data.bus(TOPOLOGY, clock.clone(), Arc::new(NoFaults));
        store.write(put(a.clone())).await.unwrap();
        bus.send(queue, "kept", &BTreeMap::new()).await.unwrap();
        // The disk fills up: the database may not grow by another page (SQLite answers
        // as it does to a write the disk refuses: SQLITE_FULL).
        let pragma = |sql: &str| data.shared.conn().query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        let pages = pragma("PRAGMA page_count");
        pragma(&format!("PRAGMA max_page_count = {pages}"));

        let Err(StoreError::Backend(why)) = store.write(put(b.clone())).await else { panic!("the write fails") };
        assert!(why.contains("orderflow.db: the disk is full"), "{why}");
        assert!(why.contains("free space on it; everything committed is kept"), "{why}");
        let Err(Error::Queue(why)) = bus.send(queue, &big, &BTreeMap::new()).await else { panic!("the send fails") };
        assert!(why.starts_with(&format!("{queue}: ")) && why.contains("the disk is full"), "{why}");

        // Nothing of what failed was written, neither the item nor its index entry nor
        // its change record; what was committed before is all there.
        assert_eq!(store.get(&b.key).await.unwrap(), None);
        let indexed = store.query(due("due")).await.unwrap().items;
        assert_eq!(indexed.iter().map(|i| i.key.pk.as_str()).collect::<Vec<_>>(), ["a"]);
        let changes = store.read_changes(0, 10).unwrap();
        assert_eq!(changes.iter().map(|c| c.key.pk.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(store.get(&a.key).await.unwrap().unwrap().outbox(), a.outbox());
        assert_eq!(bus.stats(queue).await.unwrap().visible, 1);

        // Space is freed: the same calls succeed, with no restart.
        pragma("PRAGMA max_page_count = 1073741823");
        store.write(put(b.clone())).await.unwrap();
        bus.send(queue, &big, &BTreeMap::new()).await.unwrap();
    }
    let data = DataDir::open(dir.path()).unwrap();
    let store = data.store(Arc::new(NoFaults));
    assert_eq!(store.get(&b.key).await.unwrap().map(|i| i.body), Some(b.body));
    assert_eq!(store.read_changes(0, 10).unwrap().len(), 2);
    let bus = data.bus(TOPOLOGY, clock, Arc::new(NoFaults));
    let bodies: Vec<usize> = bus.receive(queue, 10).await.unwrap().iter().map(|m| m.body.len()).collect();
    assert_eq!(bodies, ["kept".len(), big.len()]);
}

fn page_size(dir: &TestDir) -> i64 {
    let conn = rusqlite::Connection::open(dir.path().join(super::DATABASE_FILE)).unwrap();
    conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_directory_made_with_other_pages_keeps_them_and_its_items() {
    let dir = TestDir::new("page-size");
    let a = Item::new(Key::new("a", "A"), "1".into()).with_index(Index::Gsi2, "due", "01");
    {
        let store = DataDir::open(dir.path()).unwrap().store(Arc::new(NoFaults));
        store.write(put(a.clone())).await.unwrap();
    }
    assert_eq!(page_size(&dir), 2048, "a new directory's pages");
    // As an earlier build made it: SQLite's 4 KiB pages.
    let conn = rusqlite::Connection::open(dir.path().join(super::DATABASE_FILE)).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM;").unwrap();
    drop(conn);
    assert_eq!(page_size(&dir), 4096);
    let store = DataDir::open(dir.path()).unwrap().store(Arc::new(NoFaults));
    assert_eq!(store.get(&a.key).await.unwrap().map(|i| i.body), Some(a.body.clone()));
    store.write(put(Item::new(Key::new("b", "A"), "2".into()))).await.unwrap();
    assert_eq!(store.query(due("due")).await.unwrap().items.len(), 1);
    drop(store);
    assert_eq!(page_size(&dir), 4096, "the directory keeps its pages");
}
