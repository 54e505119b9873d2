//! The queue side of [`DurableBus`] that only the local runtime uses (receive, delete,
//! release, stats, dead letters), on the `messages` and `dead_letters` tables.

use async_trait::async_trait;
use chrono::Duration;
use rusqlite::{params, Connection, TransactionBehavior};

use super::bus::{DurableBus, MessageRow};
use super::codec;
use crate::error::Error;
use crate::ports::{Broker, QueueStats, ReceivedMessage};

#[async_trait]
impl Broker for DurableBus {
    async fn receive(&self, queue: &str, max: usize) -> Result<Vec<ReceivedMessage>, Error> {
        let spec = self.spec(queue)?;
        let now = self.clock.now();
        // SQS's default visibility timeout for a queue no mapping reads.
        let visibility = spec.map_or(30, |s| s.visibility_timeout_secs);
        let hide_until = self.at(now, Duration::seconds(i64::from(visibility))).map_err(Error::Queue)?;
        let now = codec::nanos(now).map_err(Error::Queue)?;
        let failed = |e| self.queue_error(queue, &e);
        let mut conn = self.shared.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        let mut out = Vec::new();
        let mut last = 0;
        // Visible messages in queue order, a page at a time: those past maxReceiveCount
        // move to the dead letters and do not count towards `max`.
        while out.len() < max {
            let page = visible_page(&tx, queue, now, last, max - out.len()).map_err(failed)?;
            let full = page.len() == max - out.len();
            for (seq, columns) in page {
                last = seq;
                let (message_id, body, attributes, receive_count) =
                    columns.map_err(|e| self.row_error(queue, "messages", seq, e))?;
                if spec.is_some_and(|s| receive_count >= i64::from(s.max_receive_count)) {
                    redrive(&tx, seq).map_err(failed)?;
                    continue;
                }
                let receipt = receipt_for(seq, &self.shared.fresh_id("rcpt"));
                hide(&tx, seq, hide_until, &receipt).map_err(|e| self.row_error(queue, "messages", seq, e))?;
                let row = (message_id, body, attributes, receive_count.saturating_add(1));
                out.push(DurableBus::received(queue, "messages", seq, row, receipt)?);
            }
            if !full {
                break;
            }
        }
        tx.commit().map_err(failed)?;
        Ok(out)
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), Error> {
        self.spec(queue)?;
        let conn = self.shared.conn();
        conn.prepare_cached("DELETE FROM messages WHERE seq = ?1 AND receipt = ?2 AND queue = ?3")
            .and_then(|mut s| s.execute(params![seq_of(receipt), receipt, queue]))
            .map_err(|e| self.queue_error(queue, &e))?;
        Ok(())
    }

    /// One transaction for the whole batch: a commit per message would cost the pump a
    /// WAL write per record.
    async fn delete_batch(&self, queue: &str, receipts: &[&str]) -> Result<(), Error> {
        self.spec(queue)?;
        let failed = |e| self.queue_error(queue, &e);
        let mut conn = self.shared.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM messages WHERE seq = ?1 AND receipt = ?2 AND queue = ?3")
                .map_err(failed)?;
            for receipt in receipts {
                delete.execute(params![seq_of(receipt), receipt, queue]).map_err(failed)?;
            }
        }
        tx.commit().map_err(failed)
    }

    async fn release(&self, queue: &str, receipt: &str, seconds: u32) -> Result<(), Error> {
        self.spec(queue)?;
        let visible_at = self.at(self.clock.now(), Duration::seconds(i64::from(seconds))).map_err(Error::Queue)?;
        let conn = self.shared.conn();
        conn.prepare_cached("UPDATE messages SET visible_at = ?1 WHERE seq = ?2 AND receipt = ?3 AND queue = ?4")
            .and_then(|mut s| s.execute(params![visible_at, seq_of(receipt), receipt, queue]))
            .map_err(|e| self.queue_error(queue, &e))?;
        Ok(())
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, Error> {
        self.spec(queue)?;
        let now = codec::nanos(self.clock.now()).map_err(Error::Queue)?;
        let conn = self.shared.conn();
        let counts = conn
            .prepare_cached(
                "SELECT (SELECT COUNT(*) FROM messages WHERE queue = ?1 AND visible_at <= ?2),
                        (SELECT COUNT(*) FROM messages WHERE queue = ?1),
                        (SELECT COUNT(*) FROM dead_letters WHERE queue = ?1)",
            )
            .and_then(|mut s| s.query_row(params![queue, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .map_err(|e| self.queue_error(queue, &e))?;
        let (visible, all, dead): (i64, i64, i64) = counts;
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Ok(QueueStats {
            name: queue.to_string(),
            visible: count(visible),
            in_flight: count(all.saturating_sub(visible)),
            dead_letters: count(dead),
        })
    }

    async fn pending(&self, queue: &str) -> Result<bool, Error> {
        self.spec(queue)?;
        let conn = self.shared.conn();
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE queue = ?1)")
            .and_then(|mut s| s.query_row(params![queue], |r| r.get(0)))
            .map_err(|e| self.queue_error(queue, &e))
    }

    async fn redrive(&self, queue: &str, max: usize) -> Result<Vec<String>, Error> {
        self.spec(queue)?;
        let now = codec::nanos(self.clock.now()).map_err(Error::Queue)?;
        let failed = |e| self.queue_error(queue, &e);
        let mut conn = self.shared.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        let oldest: Vec<(i64, String)> = {
            let mut stmt = tx
                .prepare_cached("SELECT seq, message_id FROM dead_letters WHERE queue = ?1 ORDER BY seq LIMIT ?2")
                .map_err(failed)?;
            let rows =
                stmt.query_map(params![queue, codec::limit(max)], |r| Ok((r.get(0)?, r.get(1)?))).map_err(failed)?;
            rows.collect::<rusqlite::Result<_>>().map_err(failed)?
        };
        for (seq, _) in &oldest {
            tx.prepare_cached(
                "INSERT INTO messages (queue, message_id, body, attributes, receive_count, visible_at, receipt)
                 SELECT queue, message_id, body, attributes, 0, ?2, NULL FROM dead_letters WHERE seq = ?1",
            )
            .and_then(|mut s| s.execute(params![seq, now]))
            .map_err(failed)?;
            tx.prepare_cached("DELETE FROM dead_letters WHERE seq = ?1")
                .and_then(|mut s| s.execute(params![seq]))
                .map_err(failed)?;
        }
        tx.commit().map_err(failed)?;
        Ok(oldest.into_iter().map(|(_, id)| id).collect())
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<ReceivedMessage>, Error> {
        self.spec(queue)?;
        let failed = |e| self.queue_error(queue, &e);
        let conn = self.shared.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, message_id, body, attributes, receive_count FROM dead_letters
                 WHERE queue = ?1 ORDER BY seq",
            )
            .map_err(failed)?;
        let rows = stmt
            .query_map(params![queue], |r| {
                let columns = || -> rusqlite::Result<MessageRow> { Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)) };
                Ok((r.get::<_, i64>(0)?, columns()))
            })
            .map_err(failed)?;
        let mut dead = Vec::new();
        for row in rows {
            let (seq, columns) = row.map_err(failed)?;
            let row = columns.map_err(|e| self.row_error(queue, "dead_letters", seq, e))?;
            dead.push(DurableBus::received(queue, "dead_letters", seq, row, String::new())?);
        }
        Ok(dead)
    }
}

/// The receipt of a receive of the message `seq`: the row's number, then an id no other
/// receive is given (an SQS receipt handle is opaque to its holder). A delete or release
/// finds the row by its number and checks the whole receipt, so it needs no index of
/// receipts, and a receipt of an earlier receive of the message matches nothing.
fn receipt_for(seq: i64, id: &str) -> String {
    format!("{seq}/{id}")
}

/// The row number a receipt names; `None` (matching no row) for one not made here.
fn seq_of(receipt: &str) -> Option<i64> {
    receipt.split_once('/').and_then(|(seq, _)| seq.parse().ok())
}

/// Up to `max` visible messages of `queue` after `seq` `after`, in queue order, as
/// (seq, its columns as they are before this receive, or why they cannot be read).
fn visible_page(
    conn: &Connection,
    queue: &str,
    now: i64,
    after: i64,
    max: usize,
) -> rusqlite::Result<Vec<(i64, rusqlite::Result<MessageRow>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, message_id, body, attributes, receive_count FROM messages
         WHERE queue = ?1 AND seq > ?2 AND visible_at <= ?3 ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![queue, after, now, codec::limit(max)], |r| {
        let columns = (|| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))();
        Ok((r.get(0)?, columns))
    })?;
    rows.collect()
}

/// Moves the message `seq` to its queue's dead letters.
fn redrive(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO dead_letters (queue, message_id, body, attributes, receive_count)
         SELECT queue, message_id, body, attributes, receive_count FROM messages WHERE seq = ?1",
    )?
    .execute(params![seq])?;
    conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")?.execute(params![seq])?;
    Ok(())
}

/// Counts a receive of the message `seq`, hides it until `until` and gives it `receipt`.
/// The row was read with the page ([`visible_page`]): an `UPDATE ... RETURNING` is run
/// by SQLite as a trigger, with a statement journal of the pages it changes (about a
/// third of the receive's time in a profile of the durable chain).
fn hide(conn: &Connection, seq: i64, until: i64, receipt: &str) -> rusqlite::Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?1, receipt = ?2 WHERE seq = ?3",
        )?
        .execute(params![until, receipt, seq])?;
    if changed == 1 {
        Ok(())
    } else {
        Err(rusqlite::Error::QueryReturnedNoRows)
    }
}
