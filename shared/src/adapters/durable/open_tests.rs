//! Opening a data directory: what it creates, and what it refuses.

use super::open::APPLICATION;
use super::testdir::TestDir;
use super::{DataDir, DATABASE_FILE, FORMAT};

fn refusal(dir: &TestDir) -> String {
    match DataDir::open(dir.path()) {
        Ok(_) => panic!("{} opened", dir.path().display()),
        Err(e) => e,
    }
}

#[test]
fn a_new_directory_is_created_with_its_database() {
    let dir = TestDir::new("create");
    let nested = dir.path().join("a").join("b");
    let data = DataDir::open(&nested).unwrap();
    assert_eq!(data.path(), nested);
    assert!(nested.join(DATABASE_FILE).is_file());
}

#[test]
fn a_directory_open_elsewhere_is_refused_until_it_is_closed() {
    let dir = TestDir::new("in-use");
    let first = DataDir::open(dir.path()).unwrap();
    let message = refusal(&dir);
    assert!(message.contains("is in use by another orderflow-local"), "{message}");
    assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
    assert!(message.ends_with("stop it or use another --data-dir"), "{message}");
    drop(first);
    DataDir::open(dir.path()).unwrap();
}

#[test]
fn the_lock_outlives_the_data_dir_while_a_store_or_bus_is_in_use() {
    let dir = TestDir::new("held");
    let data = DataDir::open(dir.path()).unwrap();
    let store = data.store(std::sync::Arc::new(crate::adapters::embedded::NoFaults));
    drop(data);
    assert!(refusal(&dir).contains("is in use"));
    drop(store);
    DataDir::open(dir.path()).unwrap();
}

#[test]
fn a_directory_of_another_format_is_refused() {
    let dir = TestDir::new("format");
    drop(DataDir::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute("UPDATE meta SET value = 99 WHERE key = 'format'", []).unwrap();
    drop(conn);
    let message = refusal(&dir);
    assert!(message.contains("was written by another version of orderflow-local (format 99)"), "{message}");
    assert!(message.ends_with("move it away or start with --data-dir on a new directory"), "{message}");
    assert_ne!(FORMAT, 99);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    for text in ["hello", &"not a database\n".repeat(200)] {
        let dir = TestDir::new("not-sqlite");
        std::fs::create_dir_all(dir.path()).unwrap();
        let file = dir.path().join(DATABASE_FILE);
        std::fs::write(&file, text).unwrap();
        let message = refusal(&dir);
        assert!(message.contains("is not an SQLite database"), "{message}");
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }
}

#[test]
fn someone_else_s_sqlite_database_is_refused() {
    let dir = TestDir::new("foreign");
    std::fs::create_dir_all(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute_batch("CREATE TABLE songs (title TEXT)").unwrap();
    drop(conn);
    let message = refusal(&dir);
    assert!(message.contains("orderflow-local did not write (it has the tables songs and no meta table)"), "{message}");

    let dir = TestDir::new("foreign-meta");
    std::fs::create_dir_all(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute_batch("CREATE TABLE meta (name TEXT)").unwrap();
    drop(conn);
    let message = refusal(&dir);
    assert!(message.contains("its meta table cannot be read"), "{message}");
    assert!(!message.contains(APPLICATION.to_uppercase().as_str()));
}

#[test]
fn a_path_that_cannot_be_a_directory_is_refused_naming_it() {
    let dir = TestDir::new("file");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let message = match DataDir::open(&file) {
        Ok(_) => panic!("opened a file as a directory"),
        Err(e) => e,
    };
    assert!(message.starts_with(&format!("cannot create the data directory {}", file.display())), "{message}");
}

/// The schema format 1 created, as it was.
const FORMAT_1_SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE items (
    pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    expires_at INTEGER, outbox BLOB, PRIMARY KEY (pk, sk));
CREATE TABLE index_entries (
    idx TEXT NOT NULL, ipk TEXT NOT NULL, isk TEXT NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL,
    PRIMARY KEY (idx, ipk, isk, pk, sk)) WITHOUT ROWID;
CREATE INDEX index_entries_by_item ON index_entries (pk, sk);
CREATE TABLE changes (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT, pk TEXT NOT NULL, sk TEXT NOT NULL,
    old TEXT, old_outbox BLOB, new TEXT, new_outbox BLOB);
CREATE TABLE published (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, message_id TEXT NOT NULL, message TEXT NOT NULL,
    attributes TEXT NOT NULL, published_at INTEGER NOT NULL);
CREATE INDEX published_by_topic ON published (topic, seq);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, receive_count INTEGER NOT NULL, visible_at INTEGER NOT NULL, receipt TEXT);
CREATE INDEX messages_by_queue ON messages (queue, seq);
CREATE INDEX messages_by_receipt ON messages (receipt) WHERE receipt IS NOT NULL;
CREATE TABLE dead_letters (
    seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, receive_count INTEGER NOT NULL);
CREATE INDEX dead_letters_by_queue ON dead_letters (queue, seq);
INSERT INTO meta (key, value) VALUES ('application', 'orderflow-local'), ('format', 1), ('next_id', 3);
INSERT INTO items VALUES ('ORDER#o-1', 'ORDER', 2, '{\"note\":\"a \\\"b\\\"\"}', 1900000000, NULL);
INSERT INTO items VALUES ('ORDER#o-2', 'ORDER', 1, '{}', NULL, NULL);
INSERT INTO index_entries VALUES ('gsi1', 'CUSTOMER#c-1', '2026-12-01#o-1', 'ORDER#o-1', 'ORDER');
INSERT INTO index_entries VALUES ('gsi2', 'DUE#03', '2026-12-02#o-1', 'ORDER#o-1', 'ORDER');
INSERT INTO changes (sequence, pk, sk, old, new) VALUES (7, 'ORDER#o-1', 'ORDER',
    '{\"version\":1,\"body\":\"{}\",\"index_keys\":{\"gsi1\":[\"CUSTOMER#c-1\",\"2026-12-01#o-1\"]},\"expires_at\":null}',
    '{\"version\":2,\"body\":\"{\\\"note\\\":\\\"a \\\\\\\"b\\\\\\\"\\\"}\",\"index_keys\":{\"gsi1\":[\"CUSTOMER#c-1\",\"2026-12-01#o-1\"],\"gsi2\":[\"DUE#03\",\"2026-12-02#o-1\"]},\"expires_at\":1900000000}');
";

/// A directory holding [`FORMAT_1_SCHEMA`]'s database, then `then` run on it.
fn format_1_dir(name: &str, then: &str) -> TestDir {
    let dir = TestDir::new(name);
    std::fs::create_dir_all(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute_batch(FORMAT_1_SCHEMA).unwrap();
    conn.execute_batch(then).unwrap();
    dir
}

#[tokio::test]
async fn a_directory_of_format_1_is_upgraded_as_it_is_opened_and_keeps_everything() {
    use crate::adapters::embedded::{ChangeFeed, NoFaults};
    use crate::ports::{Condition, Index, IndexQuery, Key, StateStore, Write};

    let dir = format_1_dir("format-1", "");

    let data = DataDir::open(dir.path()).unwrap();
    let store = data.store(std::sync::Arc::new(NoFaults));
    let body = r#"{"note":"a \"b\""}"#;
    let key = Key::new("ORDER#o-1", "ORDER");
    let item = store.get(&key).await.unwrap().unwrap();
    assert_eq!((item.version, item.body.as_str(), item.expires_at), (2, body, Some(1_900_000_000)));
    let index_keys = |item: &crate::ports::Item| {
        item.index_keys.iter().map(|(i, k)| (i.name(), k.pk.clone(), k.sk.clone())).collect::<Vec<_>>()
    };
    assert_eq!(
        index_keys(&item),
        [
            ("gsi1", "CUSTOMER#c-1".to_string(), "2026-12-01#o-1".to_string()),
            ("gsi2", "DUE#03".to_string(), "2026-12-02#o-1".to_string())
        ]
    );
    assert!(store.get(&Key::new("ORDER#o-2", "ORDER")).await.unwrap().unwrap().index_keys.is_empty());

    // The change recorded in format 1 reads as it was written.
    let changes = store.read_changes(0, 10).unwrap();
    let [change] = changes.as_slice() else { panic!("one change: {changes:?}") };
    let (old, new) = (change.old.as_ref().unwrap(), change.new.as_ref().unwrap());
    assert_eq!((change.sequence, old.version, old.body.as_str(), index_keys(old).len()), (7, 1, "{}", 1));
    assert_eq!((new.version, new.body.as_str(), new.expires_at), (2, body, Some(1_900_000_000)));
    assert_eq!(index_keys(new), index_keys(&item));

    // Writes go on from there: the item leaves the due index, and its change follows the feed.
    let mut next = item.clone();
    next.index_keys.remove(&Index::Gsi2);
    store.write(Write::Put { item: next, condition: Condition::VersionIs(2) }).await.unwrap();
    let due =
        IndexQuery { index: Index::Gsi2, pk: "DUE#03".into(), sk_from: None, sk_to: None, limit: 10, after: None };
    assert!(store.query(due).await.unwrap().items.is_empty());
    let changes = store.read_changes(7, 10).unwrap();
    let [change] = changes.as_slice() else { panic!("one change: {changes:?}") };
    assert_eq!(change.sequence, 8);
    assert_eq!(change.old.as_ref().map(|i| (i.version, index_keys(i).len())), Some((2, 2)));
    assert_eq!(change.new.as_ref().map(|i| (i.version, i.body.as_str(), index_keys(i).len())), Some((3, body, 1)));
    drop(store);
    drop(data);

    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let format: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0)).unwrap();
    assert_eq!(format, FORMAT);
}

#[tokio::test]
async fn a_format_1_feed_trimmed_empty_goes_on_above_its_last_number() {
    use crate::adapters::embedded::{ChangeFeed, NoFaults};
    use crate::ports::{Condition, Item, Key, StateStore, Write};

    let dir = format_1_dir("format-1-trimmed", "DELETE FROM changes");

    let store = DataDir::open(dir.path()).unwrap().store(std::sync::Arc::new(NoFaults));
    assert_eq!(store.last_sequence().unwrap(), 7);
    let put = |pk: &str| Write::Put { item: Item::new(Key::new(pk, "A"), "{}".into()), condition: Condition::Always };
    store.write(put("a")).await.unwrap();
    assert_eq!(store.read_changes(0, 10).unwrap().iter().map(|c| c.sequence).collect::<Vec<_>>(), [8]);
    store.trim_changes(8).unwrap();
    drop(store);
    let store = DataDir::open(dir.path()).unwrap().store(std::sync::Arc::new(NoFaults));
    store.write(put("b")).await.unwrap();
    assert_eq!(store.read_changes(0, 10).unwrap().iter().map(|c| c.sequence).collect::<Vec<_>>(), [9]);
}
