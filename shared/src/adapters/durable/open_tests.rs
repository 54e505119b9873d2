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
