//! The store's contract, one suite for both embedded stores: the in-memory one
//! (`store_tests.rs`) and the data directory's (`durable/store_tests.rs`) each run every
//! test here through [`store_contract_tests!`], with their own [`Fresh`]. Conditional
//! writes, transactions, index queries, the item-size limit, injected crashes and the
//! change feed behave the same on both, as they do on DynamoDB.

use std::sync::Arc;

use super::{ChangeFeed, Faults};
use crate::error::StoreError;
use crate::ports::{Condition, Index, IndexQuery, Item, Key, OutboundMessage, Page, StateStore, Write};

/// A store and its change feed.
pub(crate) trait ContractStore: StateStore + ChangeFeed {}

impl<T: StateStore + ChangeFeed> ContractStore for T {}

/// A fresh, empty store whose writes go through `faults`, and whatever must live as long
/// as it does (the durable store's directory).
pub(crate) type Fresh = fn(Arc<dyn Faults>) -> (Box<dyn std::any::Any>, Arc<dyn ContractStore>);

fn store(fresh: Fresh) -> (Box<dyn std::any::Any>, Arc<dyn ContractStore>) {
    fresh(Arc::new(super::NoFaults))
}

fn item(pk: &str, body: &str) -> Item {
    Item::new(Key::new(pk, "A"), body.to_string())
}

fn put(item: Item, condition: Condition) -> Write {
    Write::Put { item, condition }
}

fn message(id: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        topic: "order-events".into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        attributes: [("type".to_string(), "order.placed".to_string())].into(),
        via: Default::default(),
    }
}

/// Runs every test of the contract on the store `fresh` makes: one `#[tokio::test]`
/// each, under the contract's names. A test left out of this list is dead code in the
/// test build, which the lints refuse.
macro_rules! store_contract_tests {
    ($fresh:expr) => {
        store_contract_tests!($fresh;
            creating_twice_fails_the_second_time,
            versioned_update_refuses_a_stale_version,
            a_transaction_with_one_failed_condition_writes_nothing,
            a_transaction_writing_one_key_twice_is_refused_whole,
            index_queries_are_ordered_bounded_and_paged,
            index_entries_with_one_sort_key_are_ordered_and_paged_by_table_key,
            moving_an_item_in_an_index_drops_its_old_entry,
            a_write_keeps_the_index_entries_it_keeps_and_drops_the_ones_it_drops,
            a_page_continues_after_its_last_item_as_read_even_when_that_item_moved,
            injected_crash_applies_nothing_of_that_write,
            a_crash_after_the_commit_leaves_the_write_and_its_change,
            an_item_over_dynamodb_s_size_limit_is_refused_and_nothing_is_written,
            keys_only_indexes_return_keys_alone,
            items_read_back_exactly_as_written,
            every_applied_write_is_one_change_with_both_images,
            trimmed_changes_are_gone_and_their_numbers_never_come_back,
            a_change_s_new_image_is_the_item_as_stored_whatever_the_condition,
        );
    };
    ($fresh:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::adapters::embedded::store_contract::$name($fresh).await;
            }
        )+
    };
}
pub(crate) use store_contract_tests;

struct CrashOnSecondWrite(std::sync::atomic::AtomicU32);

impl Faults for CrashOnSecondWrite {
    fn before_write(&self, _: &Write) -> Result<(), StoreError> {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            return Err(StoreError::Backend("injected crash".into()));
        }
        Ok(())
    }
}

struct CrashAfterCommit;

impl Faults for CrashAfterCommit {
    fn after_write(&self, _: &Write) -> Result<(), StoreError> {
        Err(StoreError::Backend("injected crash after the commit".into()))
    }
}

/// An item of exactly `size` bytes by DynamoDB's rules at version `version`.
fn item_of_size(pk: &str, size: usize, version: u64) -> Item {
    let overhead = item(pk, "").with_index(Index::Gsi1, "c", "s").stored_size(version);
    let body = "é".repeat((size - overhead) / 2) + &"x".repeat((size - overhead) % 2);
    item(pk, &body).with_index(Index::Gsi1, "c", "s")
}

pub(crate) async fn creating_twice_fails_the_second_time(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    assert_eq!(s.write(put(item("p", "1"), Condition::NotExists)).await, Ok(1));
    assert_eq!(s.write(put(item("p", "2"), Condition::NotExists)).await, Err(StoreError::ConditionFailed));
    assert_eq!(s.get(&Key::new("p", "A")).await.unwrap().unwrap().body, "1");
}

pub(crate) async fn versioned_update_refuses_a_stale_version(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    s.write(put(item("p", "1"), Condition::NotExists)).await.unwrap();
    assert_eq!(s.write(put(item("p", "2"), Condition::VersionIs(1))).await, Ok(2));
    assert_eq!(s.write(put(item("p", "3"), Condition::VersionIs(1))).await, Err(StoreError::ConditionFailed));
    assert_eq!(s.write(put(item("p", "4"), Condition::Always)).await, Ok(3));
}

pub(crate) async fn a_transaction_with_one_failed_condition_writes_nothing(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    s.write(put(item("a", "1"), Condition::NotExists)).await.unwrap();
    let writes = vec![put(item("b", "1"), Condition::NotExists), put(item("a", "2"), Condition::NotExists)];
    assert_eq!(s.transact(writes).await, Err(StoreError::ConditionFailed));
    assert!(s.get(&Key::new("b", "A")).await.unwrap().is_none());
    let ok = vec![
        put(item("b", "1"), Condition::NotExists),
        Write::Delete { key: Key::new("a", "A"), condition: Condition::VersionIs(1) },
    ];
    s.transact(ok).await.unwrap();
    assert!(s.get(&Key::new("a", "A")).await.unwrap().is_none());
}

pub(crate) async fn a_transaction_writing_one_key_twice_is_refused_whole(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    let twice = vec![put(item("a", "1"), Condition::Always), put(item("a", "2"), Condition::Always)];
    assert_eq!(s.transact(twice).await, Err(StoreError::Backend("transaction writes a/A twice".into())));
    assert!(s.get(&Key::new("a", "A")).await.unwrap().is_none());
    assert!(s.read_changes(0, 10).unwrap().is_empty());
}

pub(crate) async fn index_queries_are_ordered_bounded_and_paged(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    for (pk, sk) in [("x3", "03"), ("x1", "01"), ("x2", "02"), ("x4", "04"), ("y", "00")] {
        let i = item(pk, pk).with_index(Index::Gsi2, if pk == "y" { "other" } else { "due" }, sk);
        s.write(put(i, Condition::Always)).await.unwrap();
    }
    let q = |after, limit| IndexQuery {
        index: Index::Gsi2,
        pk: "due".into(),
        sk_from: Some("01".into()),
        sk_to: Some("03".into()),
        limit,
        after,
    };
    let first = s.query(q(None, 2)).await.unwrap();
    let keys: Vec<_> = first.items.iter().map(|i| i.key.pk.as_str()).collect();
    assert_eq!(keys, ["x1", "x2"]);
    let second = s.query(q(first.next.clone(), 2)).await.unwrap();
    assert_eq!(second.items.iter().map(|i| i.key.pk.as_str()).collect::<Vec<_>>(), ["x3"]);
    assert!(second.next.is_none());
}

pub(crate) async fn index_entries_with_one_sort_key_are_ordered_and_paged_by_table_key(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    for pk in ["c", "a", "b"] {
        s.write(put(item(pk, pk).with_index(Index::Gsi1, "C", "same"), Condition::Always)).await.unwrap();
    }
    let q = |after| IndexQuery { index: Index::Gsi1, pk: "C".into(), sk_from: None, sk_to: None, limit: 1, after };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.query(q(after)).await.unwrap();
        seen.extend(page.items.iter().map(|i| i.key.pk.clone()));
        let Some(next) = page.next else { break };
        after = Some(next);
    }
    assert_eq!(seen, ["a", "b", "c"]);
}

pub(crate) async fn moving_an_item_in_an_index_drops_its_old_entry(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    s.write(put(item("r", "1").with_index(Index::Gsi2, "due", "01"), Condition::NotExists)).await.unwrap();
    s.write(put(item("r", "2").with_index(Index::Gsi2, "due", "09"), Condition::VersionIs(1))).await.unwrap();
    let q = IndexQuery {
        index: Index::Gsi2,
        pk: "due".into(),
        sk_from: None,
        sk_to: Some("05".into()),
        limit: 10,
        after: None,
    };
    assert!(s.query(q).await.unwrap().items.is_empty());
}

pub(crate) async fn a_write_keeps_the_index_entries_it_keeps_and_drops_the_ones_it_drops(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    let query =
        |index, pk: &str| IndexQuery { index, pk: pk.into(), sk_from: None, sk_to: None, limit: 10, after: None };
    let both = item("r", "1").with_index(Index::Gsi1, "c-1", "2026").with_index(Index::Gsi2, "due", "01");
    s.write(put(both, Condition::NotExists)).await.unwrap();
    // gsi1 kept as it was, gsi2 moved.
    let moved = item("r", "2").with_index(Index::Gsi1, "c-1", "2026").with_index(Index::Gsi2, "due", "02");
    s.write(put(moved, Condition::VersionIs(1))).await.unwrap();
    // gsi1 projects keys only: the entries are counted, the item read from the table.
    let keys = |page: Page| page.items.into_iter().map(|i| i.key).collect::<Vec<_>>();
    assert_eq!(keys(s.query(query(Index::Gsi1, "c-1")).await.unwrap()), [Key::new("r", "A")]);
    assert_eq!(keys(s.query(query(Index::Gsi2, "due")).await.unwrap()).len(), 1);
    // gsi2 dropped, gsi1 kept.
    s.write(put(item("r", "3").with_index(Index::Gsi1, "c-1", "2026"), Condition::VersionIs(2))).await.unwrap();
    assert!(s.query(query(Index::Gsi2, "due")).await.unwrap().items.is_empty());
    assert_eq!(keys(s.query(query(Index::Gsi1, "c-1")).await.unwrap()).len(), 1);
    let stored = s.get(&Key::new("r", "A")).await.unwrap().unwrap();
    assert_eq!(stored.index_keys.keys().collect::<Vec<_>>(), [&Index::Gsi1]);
}

pub(crate) async fn a_page_continues_after_its_last_item_as_read_even_when_that_item_moved(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    for (pk, sk) in [("x1", "01"), ("x2", "02"), ("x3", "03"), ("x4", "04")] {
        s.write(put(item(pk, pk).with_index(Index::Gsi2, "due", sk), Condition::Always)).await.unwrap();
    }
    let q = |after| IndexQuery {
        index: Index::Gsi2,
        pk: "due".into(),
        sk_from: None,
        sk_to: Some("05".into()),
        limit: 2,
        after,
    };
    let first = s.query(q(None)).await.unwrap();
    // The reader acts on what it read: both move past the range (a tick reschedules).
    for (pk, sk) in [("x1", "91"), ("x2", "92")] {
        s.write(put(item(pk, pk).with_index(Index::Gsi2, "due", sk), Condition::Always)).await.unwrap();
    }
    let second = s.query(q(first.next.clone())).await.unwrap();
    assert_eq!(second.items.iter().map(|i| i.key.pk.as_str()).collect::<Vec<_>>(), ["x3", "x4"]);
}

pub(crate) async fn injected_crash_applies_nothing_of_that_write(fresh: Fresh) {
    let (_dir, s) = fresh(Arc::new(CrashOnSecondWrite(0.into())));
    s.write(put(item("a", "1"), Condition::NotExists)).await.unwrap();
    assert!(s.write(put(item("b", "1"), Condition::NotExists)).await.is_err());
    assert!(s.get(&Key::new("b", "A")).await.unwrap().is_none());
}

pub(crate) async fn a_crash_after_the_commit_leaves_the_write_and_its_change(fresh: Fresh) {
    let (_dir, s) = fresh(Arc::new(CrashAfterCommit));
    assert!(s.write(put(item("a", "1"), Condition::NotExists)).await.is_err());
    assert_eq!(s.get(&Key::new("a", "A")).await.unwrap().unwrap().version, 1);
    assert_eq!(s.read_changes(0, 10).unwrap().len(), 1);
}

pub(crate) async fn an_item_over_dynamodb_s_size_limit_is_refused_and_nothing_is_written(fresh: Fresh) {
    use crate::ports::MAX_ITEM_BYTES;
    let (_dir, s) = store(fresh);
    // Index keys and multi-byte characters count, as DynamoDB counts them.
    let largest = item_of_size("p", MAX_ITEM_BYTES, 1);
    assert_eq!(largest.stored_size(1), MAX_ITEM_BYTES);
    assert_eq!(s.write(put(largest, Condition::NotExists)).await, Ok(1));

    let mut over = item_of_size("q", MAX_ITEM_BYTES, 1);
    over.body.push('x');
    let Err(StoreError::Backend(message)) = s.write(put(over.clone(), Condition::NotExists)).await else {
        panic!("an item over the limit is refused");
    };
    assert!(message.contains("item q/A would be 409601 bytes"), "{message}");
    assert!(s.get(&Key::new("q", "A")).await.unwrap().is_none());

    let fits = put(item("r", "1"), Condition::NotExists);
    assert!(s.transact(vec![fits, put(over, Condition::NotExists)]).await.is_err());
    assert!(s.get(&Key::new("r", "A")).await.unwrap().is_none(), "the whole transaction is refused");
}

pub(crate) async fn keys_only_indexes_return_keys_alone(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    let indexed = item("p", "{\"big\":true}").with_index(Index::Gsi1, "C", "1").with_index(Index::Gsi2, "D", "1");
    s.write(put(indexed, Condition::NotExists)).await.unwrap();
    let query = |index| IndexQuery {
        index,
        pk: if index == Index::Gsi1 { "C" } else { "D" }.into(),
        sk_from: None,
        sk_to: None,
        limit: 10,
        after: None,
    };
    let keys = s.query(query(Index::Gsi1)).await.unwrap();
    let [only] = &keys.items[..] else { panic!("{keys:?}") };
    assert_eq!((only.key.pk.as_str(), only.body.as_str(), only.version), ("p", "", 0));
    assert_eq!(only.index_keys.keys().collect::<Vec<_>>(), [&Index::Gsi1]);
    let due = s.query(query(Index::Gsi2)).await.unwrap();
    let [only] = &due.items[..] else { panic!("{due:?}") };
    assert_eq!((only.key.pk.as_str(), only.body.as_str(), only.version), ("p", "", 0));
    assert_eq!(only.index_keys.keys().collect::<Vec<_>>(), [&Index::Gsi2]);
}

pub(crate) async fn items_read_back_exactly_as_written(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    let mut full = item("p", "{\"é\":1}").with_index(Index::Gsi1, "C", "1").with_outbox(vec![message("m-1")]);
    full.expires_at = Some(1_800_000_000);
    s.write(put(full.clone(), Condition::NotExists)).await.unwrap();
    full.version = 1;
    assert_eq!(s.get(&full.key).await.unwrap(), Some(full));
}

pub(crate) async fn every_applied_write_is_one_change_with_both_images(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    let first = item("p", "1").with_index(Index::Gsi2, "due", "01").with_outbox(vec![message("m-1")]);
    s.write(put(first, Condition::NotExists)).await.unwrap();
    s.write(put(item("p", "2"), Condition::VersionIs(1))).await.unwrap();
    s.write(Write::Delete { key: Key::new("nothing", "A"), condition: Condition::Always }).await.unwrap();
    s.write(Write::Delete { key: Key::new("p", "A"), condition: Condition::Always }).await.unwrap();
    let changes = s.read_changes(0, 10).unwrap();
    let shape: Vec<_> = changes
        .iter()
        .map(|c| (c.sequence, c.old.as_ref().map(|i| i.version), c.new.as_ref().map(|i| i.version)))
        .collect();
    assert_eq!(
        shape,
        [(1, None, Some(1)), (2, Some(1), Some(2)), (3, Some(2), None)],
        "a delete of nothing records nothing"
    );
    let created = changes[0].new.as_ref().unwrap();
    assert_eq!(created.outbox().unwrap(), [message("m-1")]);
    assert_eq!(changes[1].old.as_ref(), Some(created));
    assert_eq!(s.read_changes(1, 1).unwrap().iter().map(|c| c.sequence).collect::<Vec<_>>(), [2]);
}

pub(crate) async fn trimmed_changes_are_gone_and_their_numbers_never_come_back(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    s.write(put(item("a", "1"), Condition::Always)).await.unwrap();
    s.write(put(item("b", "1"), Condition::Always)).await.unwrap();
    s.trim_changes(2).unwrap();
    assert!(s.read_changes(0, 10).unwrap().is_empty());
    s.transact(vec![put(item("c", "1"), Condition::Always), put(item("d", "1"), Condition::Always)]).await.unwrap();
    let changes = s.read_changes(0, 10).unwrap();
    assert_eq!(changes.iter().map(|c| (c.sequence, c.key.pk.as_str())).collect::<Vec<_>>(), [(3, "c"), (4, "d")]);
}

pub(crate) async fn a_change_s_new_image_is_the_item_as_stored_whatever_the_condition(fresh: Fresh) {
    let (_dir, s) = store(fresh);
    let mut body =
        item("p", "{\"n\":\"\\\"1\\\"\"}").with_index(Index::Gsi1, "C", "1").with_outbox(vec![message("m-1")]);
    body.expires_at = Some(1_800_000_000);
    let key = body.key.clone();
    let writes = [
        put(body.clone(), Condition::NotExists),
        put(item("p", "2").with_index(Index::Gsi2, "due", "01"), Condition::VersionIs(1)),
        // A version the condition does not name: known only once the item is read.
        put(item("p", "3"), Condition::Always),
    ];
    for write in writes {
        s.write(write).await.unwrap();
        let changes = s.read_changes(0, 10).unwrap();
        assert_eq!(changes.last().and_then(|c| c.new.clone()), s.get(&key).await.unwrap());
    }
    s.transact(vec![put(item("p", "4"), Condition::VersionIs(3)), put(item("q", "1"), Condition::NotExists)])
        .await
        .unwrap();
    let changes = s.read_changes(0, 10).unwrap();
    let versions: Vec<_> = changes.iter().map(|c| c.new.as_ref().map(|i| (i.key.pk.clone(), i.version))).collect();
    assert_eq!(versions.get(3..), Some(&[Some(("p".into(), 4)), Some(("q".into(), 1))][..]));
    assert_eq!(changes.get(3).and_then(|c| c.new.clone()), s.get(&key).await.unwrap());
}
