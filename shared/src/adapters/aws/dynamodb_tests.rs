use super::*;
use crate::adapters::aws::moto::{unique_name, MotoServer};

async fn store() -> DynamoStore {
    let config = MotoServer::shared().sdk_config().await;
    let (client, table) = (Client::new(&config), unique_name("store"));
    create_table(&client, &table).await.expect("create table");
    DynamoStore::new(client, table)
}

fn put(item: Item, condition: Condition) -> Write {
    Write::Put { item, condition }
}

fn item(sk: &str, body: &str) -> Item {
    Item::new(Key::new("order#1", sk), body.to_string())
}

fn in_gsi1(customer: &str, at: &str) -> Item {
    item(at, &format!("{{\"at\":\"{at}\"}}")).with_index(Index::Gsi1, customer, at)
}

fn gsi1(pk: &str, from: Option<&str>, to: Option<&str>, limit: usize, after: Option<Key>) -> IndexQuery {
    let (sk_from, sk_to) = (from.map(String::from), to.map(String::from));
    IndexQuery { index: Index::Gsi1, pk: pk.into(), sk_from, sk_to, limit, after }
}

fn sks(page: &Page) -> Vec<&str> {
    page.items.iter().map(|i| i.key.sk.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_twice_fails_the_second_time() {
    let store = store().await;
    assert_eq!(store.write(put(item("a", "1"), Condition::NotExists)).await, Ok(1));
    assert_eq!(store.write(put(item("a", "2"), Condition::NotExists)).await, Err(StoreError::ConditionFailed));
    let stored = store.get(&Key::new("order#1", "a")).await.expect("get").expect("exists");
    assert_eq!((stored.version, stored.body.as_str()), (1, "1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn versioned_updates_succeed_once_per_version() {
    let store = store().await;
    store.write(put(item("a", "1"), Condition::NotExists)).await.expect("create");
    assert_eq!(store.write(put(item("a", "2"), Condition::VersionIs(1))).await, Ok(2));
    assert_eq!(store.write(put(item("a", "stale"), Condition::VersionIs(1))).await, Err(StoreError::ConditionFailed));
    assert_eq!(store.write(put(item("b", "x"), Condition::VersionIs(1))).await, Err(StoreError::ConditionFailed));
    let stored = store.get(&Key::new("order#1", "a")).await.expect("get").expect("exists");
    assert_eq!((stored.version, stored.body.as_str()), (2, "2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unconditional_puts_still_count_versions_and_replace_the_item() {
    let store = store().await;
    let first = item("a", "1").with_index(Index::Gsi2, "due#0", "2026-01-01");
    assert_eq!(store.write(put(first, Condition::Always)).await, Ok(1));
    assert_eq!(store.write(put(item("a", "2"), Condition::Always)).await, Ok(2));
    let stored = store.get(&Key::new("order#1", "a")).await.expect("get").expect("exists");
    assert_eq!((stored.version, stored.body.as_str()), (2, "2"));
    assert!(stored.index_keys.is_empty(), "index keys of the old item removed");
    let query =
        IndexQuery { index: Index::Gsi2, pk: "due#0".into(), sk_from: None, sk_to: None, limit: 10, after: None };
    assert!(store.query(query).await.expect("query").items.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_honour_their_condition() {
    let store = store().await;
    let key = Key::new("order#1", "a");
    store.write(put(item("a", "1"), Condition::NotExists)).await.expect("create");
    let stale = Write::Delete { key: key.clone(), condition: Condition::VersionIs(7) };
    assert_eq!(store.write(stale).await, Err(StoreError::ConditionFailed));
    assert!(store.get(&key).await.expect("get").is_some());
    assert_eq!(store.write(Write::Delete { key: key.clone(), condition: Condition::VersionIs(1) }).await, Ok(0));
    assert_eq!(store.get(&key).await.expect("get"), None);
    assert_eq!(store.write(Write::Delete { key, condition: Condition::Always }).await, Ok(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_are_all_or_nothing() {
    let store = store().await;
    store.write(put(item("existing", "0"), Condition::NotExists)).await.expect("create");
    let failing =
        vec![put(item("new", "1"), Condition::NotExists), put(item("existing", "2"), Condition::VersionIs(9))];
    assert_eq!(store.transact(failing).await, Err(StoreError::ConditionFailed));
    assert_eq!(store.get(&Key::new("order#1", "new")).await.expect("get"), None);

    let passing = vec![
        put(item("new", "1"), Condition::NotExists),
        put(item("existing", "1"), Condition::VersionIs(1)),
        Write::Delete { key: Key::new("order#1", "gone"), condition: Condition::Always },
    ];
    store.transact(passing).await.expect("transact");
    let existing = store.get(&Key::new("order#1", "existing")).await.expect("get").expect("exists");
    assert_eq!((existing.version, existing.body.as_str()), (2, "1"));
    assert!(store.get(&Key::new("order#1", "new")).await.expect("get").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn index_queries_are_ordered_and_bounded() {
    let store = store().await;
    for at in ["2026-01-03", "2026-01-01", "2026-01-05", "2026-01-02", "2026-01-04"] {
        store.write(put(in_gsi1("customer#7", at), Condition::NotExists)).await.expect("put");
    }
    let elsewhere = item("x", "{}").with_index(Index::Gsi1, "customer#8", "2026-01-03");
    store.write(put(elsewhere, Condition::NotExists)).await.expect("put");

    let all = store.query(gsi1("customer#7", None, None, 10, None)).await.expect("all");
    assert_eq!(sks(&all), ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]);
    assert_eq!(all.next, None);
    assert_eq!(all.items[0].index_keys[&Index::Gsi1], Key::new("customer#7", "2026-01-01"));
    let between = store.query(gsi1("customer#7", Some("2026-01-02"), Some("2026-01-04"), 10, None)).await;
    assert_eq!(sks(&between.expect("between")), ["2026-01-02", "2026-01-03", "2026-01-04"]);
    let from = store.query(gsi1("customer#7", Some("2026-01-04"), None, 10, None)).await.expect("from");
    assert_eq!(sks(&from), ["2026-01-04", "2026-01-05"]);
    let to = store.query(gsi1("customer#7", None, Some("2026-01-01"), 10, None)).await.expect("to");
    assert_eq!(sks(&to), ["2026-01-01"]);
    let empty = store.query(gsi1("customer#7", Some("2026-02"), Some("2026-01"), 10, None)).await.expect("empty");
    assert!(empty.items.is_empty() && empty.next.is_none());
}

/// Pages of two until `next` is `None`, optionally moving each page's last item to
/// the end of the index (as the scheduler does with what it just processed).
async fn page_through(store: &DynamoStore, move_anchor: bool) -> Vec<String> {
    let (mut seen, mut after) = (Vec::new(), None);
    for _ in 0..10 {
        let page = store.query(gsi1("customer#7", None, Some("2026-12"), 2, after)).await.expect("page");
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|i| i.key.sk.clone()));
        if move_anchor && page.next.is_some() {
            // gsi1 holds keys only: the item itself is read from the table.
            let key = page.items.last().expect("a page with next has items").key.clone();
            let last = store.get(&key).await.expect("get").expect("the item exists");
            let moved = last.clone().with_index(Index::Gsi1, "customer#7", "2027-01-01");
            store.write(put(moved, Condition::VersionIs(last.version))).await.expect("move");
        }
        after = page.next;
        if after.is_none() {
            return seen;
        }
    }
    panic!("pagination did not end");
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_continues_after_the_last_item() {
    let store = store().await;
    let days = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"];
    for at in days {
        store.write(put(in_gsi1("customer#7", at), Condition::NotExists)).await.expect("put");
    }
    assert_eq!(page_through(&store, false).await, days);
    // A store that did not hand out the cursor reads the anchor's index key instead.
    let fresh = DynamoStore::new(store.client.clone(), store.table.clone());
    let page = fresh.query(gsi1("customer#7", None, None, 2, Some(Key::new("order#1", "2026-01-02")))).await;
    assert_eq!(sks(&page.expect("continued")), ["2026-01-03", "2026-01-04"]);
    // Moving each page's anchor out of the range skips nothing.
    assert_eq!(page_through(&store, true).await, days);
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_is_stored_in_the_ttl_attribute() {
    let store = store().await;
    let mut expiring = item("a", "1");
    expiring.expires_at = Some(1_900_000_000);
    store.write(put(expiring, Condition::NotExists)).await.expect("put");
    let key = Key::new("order#1", "a");
    assert_eq!(store.get(&key).await.expect("get").expect("exists").expires_at, Some(1_900_000_000));
    let raw = store.client.get_item().table_name(&store.table).set_key(Some(key_attrs(&key))).send().await;
    let raw = raw.expect("raw get");
    assert_eq!(raw.item().and_then(|i| i.get(TTL)), Some(&AttributeValue::N("1900000000".into())));
    store.write(put(item("a", "2"), Condition::VersionIs(1))).await.expect("update");
    assert_eq!(store.get(&key).await.expect("get").expect("exists").expires_at, None);
}

/// An item whose stored size at version 1 is `size` bytes.
fn item_of_size(sk: &str, size: usize) -> Item {
    let overhead = item(sk, "").stored_size(1);
    item(sk, &"x".repeat(size - overhead))
}

#[test]
fn the_size_check_counts_exactly_the_attributes_written() {
    use crate::ports::{number_attribute_size, string_attribute_size};
    let mut stored =
        item("a", "{\"name\":\"é\"}").with_index(Index::Gsi1, "c#1", "2026").with_index(Index::Gsi2, "d", "x");
    stored.expires_at = Some(1_900_000_000);
    for version in [1, 42, 123_456_789] {
        let size: usize = write::item_attrs(&stored, version)
            .iter()
            .map(|(name, value)| match value {
                AttributeValue::S(s) => string_attribute_size(name, s),
                AttributeValue::N(n) => number_attribute_size(name, n),
                other => panic!("{name} is {other:?}"),
            })
            .sum();
        assert_eq!(size, stored.stored_size(version), "version {version}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_over_the_size_limit_is_refused_before_any_request() {
    let store = store().await;
    let over = item_of_size("a", crate::ports::MAX_ITEM_BYTES + 1);
    let Err(StoreError::Backend(message)) = store.write(put(over.clone(), Condition::NotExists)).await else {
        panic!("refused");
    };
    assert!(message.contains("item order#1/a would be 409601 bytes"), "{message}");
    let fits = put(item("b", "1"), Condition::NotExists);
    assert!(store.transact(vec![fits, put(over, Condition::NotExists)]).await.is_err());
    assert_eq!(store.get(&Key::new("order#1", "b")).await.expect("get"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_item_can_be_replaced_by_a_versioned_put() {
    // Two bodies of 300 KB together are over the limit: the replacement is measured
    // alone, as a whole new item.
    let store = store().await;
    store.write(put(item_of_size("a", 300_000), Condition::NotExists)).await.expect("create");
    let replaced = item_of_size("a", 300_000).with_index(Index::Gsi1, "c#1", "2026");
    assert_eq!(store.write(put(replaced, Condition::VersionIs(1))).await, Ok(2));
    let both = vec![put(item_of_size("a", 300_000), Condition::VersionIs(2))];
    store.transact(both).await.expect("transact replaces a large item too");
    let stored = store.get(&Key::new("order#1", "a")).await.expect("get").expect("exists");
    assert_eq!((stored.version, stored.body.len()), (3, 300_000 - item("a", "").stored_size(1)));
    assert!(stored.index_keys.is_empty());
}
