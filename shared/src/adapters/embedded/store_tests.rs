use super::*;

fn item(pk: &str, body: &str) -> Item {
    Item::new(Key::new(pk, "A"), body.to_string())
}

fn put(item: Item, condition: Condition) -> Write {
    Write::Put { item, condition }
}

#[tokio::test]
async fn creating_twice_fails_the_second_time() {
    let s = EmbeddedStore::default();
    assert_eq!(s.write(put(item("p", "1"), Condition::NotExists)).await, Ok(1));
    assert_eq!(s.write(put(item("p", "2"), Condition::NotExists)).await, Err(StoreError::ConditionFailed));
    assert_eq!(s.get(&Key::new("p", "A")).await.unwrap().unwrap().body, "1");
}

#[tokio::test]
async fn versioned_update_refuses_a_stale_version() {
    let s = EmbeddedStore::default();
    s.write(put(item("p", "1"), Condition::NotExists)).await.unwrap();
    assert_eq!(s.write(put(item("p", "2"), Condition::VersionIs(1))).await, Ok(2));
    assert_eq!(s.write(put(item("p", "3"), Condition::VersionIs(1))).await, Err(StoreError::ConditionFailed));
    assert_eq!(s.write(put(item("p", "4"), Condition::Always)).await, Ok(3));
}

#[tokio::test]
async fn a_transaction_with_one_failed_condition_writes_nothing() {
    let s = EmbeddedStore::default();
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

#[tokio::test]
async fn index_queries_are_ordered_bounded_and_paged() {
    let s = EmbeddedStore::default();
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

#[tokio::test]
async fn moving_an_item_in_an_index_drops_its_old_entry() {
    let s = EmbeddedStore::default();
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

struct CrashOnSecondWrite(std::sync::atomic::AtomicU32);

impl Faults for CrashOnSecondWrite {
    fn before_write(&self, _: &Write) -> Result<(), StoreError> {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            return Err(StoreError::Backend("injected crash".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn injected_crash_applies_nothing_of_that_write() {
    let s = EmbeddedStore::new(Arc::new(CrashOnSecondWrite(0.into())));
    s.write(put(item("a", "1"), Condition::NotExists)).await.unwrap();
    assert!(s.write(put(item("b", "1"), Condition::NotExists)).await.is_err());
    assert!(s.get(&Key::new("b", "A")).await.unwrap().is_none());
}

/// An item of exactly `size` bytes by DynamoDB's rules at version `version`.
fn item_of_size(pk: &str, size: usize, version: u64) -> Item {
    let overhead = item(pk, "").with_index(Index::Gsi1, "c", "s").stored_size(version);
    let body = "é".repeat((size - overhead) / 2) + &"x".repeat((size - overhead) % 2);
    item(pk, &body).with_index(Index::Gsi1, "c", "s")
}

#[tokio::test]
async fn an_item_over_dynamodb_s_size_limit_is_refused_and_nothing_is_written() {
    use crate::ports::MAX_ITEM_BYTES;
    let s = EmbeddedStore::default();
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

#[tokio::test]
async fn keys_only_indexes_return_keys_alone() {
    let s = EmbeddedStore::default();
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

#[tokio::test]
async fn a_page_continues_after_its_last_item_as_read_even_when_that_item_moved() {
    let s = EmbeddedStore::default();
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
