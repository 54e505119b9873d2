//! The outbox relay: the one place messages leave the system. A transition writes its
//! messages into the item it changes (the `outbox` attribute, in the same conditional
//! write as the state); the table's change stream hands the relay every write with the
//! item before and after it, and the relay publishes each message the new item carries
//! and the old one did not, in the item's order. Handlers never publish.
//!
//! A crash of the writer after its write loses nothing (the change record is committed
//! with the write); a crash or redelivery of the relay sends the same messages, with the
//! same ids, again (consumers drop repeated ids); a message is never re-sent under an id
//! it already used, because the relay only ever sends what a committed item holds.
//!
//! On AWS the stream is DynamoDB Streams (`NEW_AND_OLD_IMAGES`) feeding the
//! `outbox-relay` function; on the embedded backend it is the store's change feed
//! ([`crate::adapters::embedded::EmbeddedStore::changes_after`]), pumped by the local
//! runtime.

use std::collections::BTreeSet;

use crate::app::Deps;
use crate::error::Result;
use crate::ports::{decode_outbox, OutboundMessage};

/// The messages of `new` whose ids are not among `old_ids` (the ids the item's old
/// image carried), each id once, in `new`'s order.
pub fn new_messages<'a, I>(old_ids: I, new: Vec<OutboundMessage>) -> Vec<OutboundMessage>
where
    I: IntoIterator<Item = &'a str>,
{
    let before: BTreeSet<&str> = old_ids.into_iter().collect();
    let mut seen = BTreeSet::new();
    new.into_iter().filter(|m| !before.contains(m.id.as_str()) && seen.insert(m.id.clone())).collect()
}

/// Reads an image's `outbox` attribute (absent: no messages). A message without an id,
/// topic or body cannot be relayed; the error names the message.
pub fn read_outbox(bytes: Option<&[u8]>) -> std::result::Result<Vec<OutboundMessage>, String> {
    let Some(bytes) = bytes else { return Ok(Vec::new()) };
    let messages = decode_outbox(bytes)?;
    for (i, m) in messages.iter().enumerate() {
        if m.id.trim().is_empty() || m.topic.trim().is_empty() || m.body.is_empty() {
            return Err(format!("outbox[{i}] has an empty id, topic or body"));
        }
    }
    Ok(messages)
}

/// Publishes what one change added to an item's outbox; returns how many messages went
/// out. The first failure stops (the change is retried, and sends the same ids again).
pub async fn relay_change(deps: &Deps, old: &[OutboundMessage], new: Vec<OutboundMessage>) -> Result<usize> {
    let fresh = new_messages(old.iter().map(|m| m.id.as_str()), new);
    deps.publish_all(&fresh).await?;
    Ok(fresh.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Via;

    fn message(id: &str) -> OutboundMessage {
        OutboundMessage {
            id: id.into(),
            topic: "order-events".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            attributes: Default::default(),
            via: Via::Topic,
        }
    }

    fn ids(messages: Vec<OutboundMessage>) -> Vec<String> {
        messages.into_iter().map(|m| m.id).collect()
    }

    fn new_messages(old: &[OutboundMessage], new: &[OutboundMessage]) -> Vec<OutboundMessage> {
        super::new_messages(old.iter().map(|m| m.id.as_str()), new.to_vec())
    }

    #[test]
    fn a_created_item_sends_its_whole_outbox_in_order() {
        let new = [message("b"), message("a")];
        assert_eq!(ids(new_messages(&[], &new)), ["b", "a"]);
    }

    #[test]
    fn a_transition_sends_only_what_the_old_item_did_not_carry() {
        let old = [message("o:dispatched:1"), message("o:audit.requested:1")];
        let new = [message("o:audit.requested:1"), message("o:approved:2")];
        assert_eq!(ids(new_messages(&old, &new)), ["o:approved:2"]);
    }

    #[test]
    fn a_write_without_messages_or_with_the_same_ones_sends_nothing() {
        let old = [message("x")];
        assert!(new_messages(&old, &[]).is_empty());
        assert!(new_messages(&old, &old).is_empty());
        assert!(new_messages(&[], &[]).is_empty());
    }

    #[test]
    fn a_repeated_id_in_one_outbox_goes_out_once() {
        let new = [message("x"), message("x"), message("y")];
        assert_eq!(ids(new_messages(&[], &new)), ["x", "y"]);
    }

    #[test]
    fn an_unreadable_outbox_is_an_error_saying_why() {
        use crate::ports::encode_outbox;
        assert_eq!(read_outbox(None), Ok(vec![]));
        assert!(read_outbox(Some(b"{}")).unwrap_err().contains("not deflated data"));
        let not_a_list = {
            use std::io::Write as _;
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"{}").unwrap();
            e.finish().unwrap()
        };
        assert!(read_outbox(Some(&not_a_list)).unwrap_err().contains("not a list of messages"));
        let blank = encode_outbox(&[message("")]);
        assert!(read_outbox(Some(&blank)).unwrap_err().contains("outbox[0]"));
        let good = encode_outbox(&[message("a"), message("b")]);
        assert_eq!(read_outbox(Some(&good)).unwrap(), vec![message("a"), message("b")]);
        // The same messages deflate to the same bytes.
        assert_eq!(good, encode_outbox(&[message("a"), message("b")]));
    }
}
