use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime};
use aws_sdk_dynamodbstreams::types::{Identity, OperationType, StreamRecord, StreamViewType};

use super::*;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// A REMOVE by TTL, with one attribute of every type in its old image.
fn every_type_record() -> Record {
    let old = HashMap::from([
        ("pk".to_string(), s("order#1")),
        ("n".to_string(), AttributeValue::N("1.5".into())),
        ("b".to_string(), AttributeValue::B(Blob::new(b"\x00\x01bin".to_vec()))),
        ("bool".to_string(), AttributeValue::Bool(true)),
        ("null".to_string(), AttributeValue::Null(true)),
        ("m".to_string(), AttributeValue::M(HashMap::from([("inner".to_string(), s("x"))]))),
        ("l".to_string(), AttributeValue::L(vec![s("a"), AttributeValue::N("2".into())])),
        ("ss".to_string(), AttributeValue::Ss(vec!["a".into(), "b".into()])),
        ("ns".to_string(), AttributeValue::Ns(vec!["1".into(), "2".into()])),
        ("bs".to_string(), AttributeValue::Bs(vec![Blob::new(b"hi".to_vec())])),
    ]);
    let change = StreamRecord::builder()
        .approximate_creation_date_time(DateTime::from_secs(1_480_642_020))
        .keys("pk", s("order#1"))
        .set_old_image(Some(old))
        .sequence_number("1405400000000002063282832")
        .size_bytes(54)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build();
    let ttl = Identity::builder().r#type("Service").principal_id("dynamodb.amazonaws.com").build();
    (Record::builder().event_id("e-1").event_name(OperationType::Remove).event_version("1.1"))
        .event_source("aws:dynamodb")
        .aws_region("us-east-1")
        .dynamodb(change)
        .user_identity(ttl)
        .build()
}

/// An item's outbox as DynamoDB JSON carries it (base64).
fn binary(item: &crate::ports::Item) -> serde_json::Value {
    serde_json::to_value(serde_dynamo::AttributeValue::B(item.outbox_bytes().unwrap().to_vec())).unwrap()
}

#[test]
fn a_record_is_shaped_as_lambda_hands_it_over_with_every_attribute_type() {
    let record = lambda_record("arn:stream", &every_type_record()).expect("convert");
    assert_eq!(
        record,
        json!({
            "eventID": "e-1",
            "eventName": "REMOVE",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:stream",
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            "dynamodb": {
                "ApproximateCreationDateTime": 1_480_642_020,
                "Keys": {"pk": {"S": "order#1"}},
                "OldImage": {
                    "pk": {"S": "order#1"},
                    "n": {"N": "1.5"},
                    "b": {"B": "AAFiaW4="},
                    "bool": {"BOOL": true},
                    "null": {"NULL": true},
                    "m": {"M": {"inner": {"S": "x"}}},
                    "l": {"L": [{"S": "a"}, {"N": "2"}]},
                    "ss": {"SS": ["a", "b"]},
                    "ns": {"NS": ["1", "2"]},
                    "bs": {"BS": ["aGk="]},
                },
                "SequenceNumber": "1405400000000002063282832",
                "SizeBytes": 54,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        })
    );
    let typed: EventRecord = serde_json::from_value(record).expect("an aws_lambda_events record");
    assert_eq!(typed.change.old_image.get("b"), Some(&serde_dynamo::AttributeValue::B(b"\x00\x01bin".to_vec())));
    assert_eq!(typed.user_identity.map(|u| u.principal_id).as_deref(), Some("dynamodb.amazonaws.com"));
}

#[test]
fn a_record_without_a_sequence_number_is_refused_as_corrupt() {
    let record = Record::builder().event_id("e-1").event_name(OperationType::Insert);
    let error = lambda_record("arn", &record.dynamodb(StreamRecord::builder().build()).build()).expect_err("refused");
    assert!(matches!(&error, Error::Store(StoreError::Corrupt(m)) if m == "stream record ?: no sequence number"));
}

#[test]
fn sequence_numbers_compare_as_numbers() {
    assert!(later("10", "9"));
    assert!(later("1405400000000002063282833", "1405400000000002063282832"));
    assert!(!later("9", "9"));
}

#[cfg(feature = "moto")]
mod on_moto {
    use std::collections::BTreeMap;

    use super::*;
    use crate::adapters::aws::dynamodb::DynamoStore;
    use crate::adapters::aws::moto::{unique_name, MotoServer};
    use crate::adapters::aws::provision::{provision, tests::TEST_TOPOLOGY};
    use crate::ports::{Condition, Item, Key, OutboundMessage, StateStore, Via, Write};

    async fn setup() -> (DynamoStore, StreamReader, String) {
        let config = MotoServer::shared().sdk_config().await;
        let provisioned = provision(&config, &TEST_TOPOLOGY, &unique_name("streams")).await.expect("provision");
        let reader = StreamReader::open(&config, &provisioned.stream_arn).await.expect("open");
        (provisioned.adapters(&config).0, reader, provisioned.stream_arn)
    }

    fn message(id: &str) -> OutboundMessage {
        let attributes = BTreeMap::from([("type".to_string(), "order.placed".to_string())]);
        OutboundMessage { id: id.into(), topic: "events".into(), body: "{}".into(), attributes, via: Via::Topic }
    }

    async fn put(store: &DynamoStore, sk: &str, outbox: &[&str], condition: Condition) -> Item {
        let item = Item::new(Key::new("order#1", sk), format!("{{\"sk\":\"{sk}\"}}"));
        let item = item.with_outbox(outbox.iter().map(|id| message(id)).collect());
        store.write(Write::Put { item: item.clone(), condition }).await.expect("write");
        item
    }

    fn sequence(record: &Value) -> String {
        record["dynamodb"]["SequenceNumber"].as_str().expect("a sequence number").to_string()
    }

    fn sks(batch: &[Value]) -> Vec<&str> {
        batch.iter().map(|r| r["dynamodb"]["Keys"]["sk"]["S"].as_str().unwrap_or("?")).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_insert_then_a_modify_carry_the_old_and_new_outbox() {
        let (store, reader, stream_arn) = setup().await;
        let first = put(&store, "a", &["m-1"], Condition::NotExists).await;
        let second = put(&store, "a", &["m-1", "m-2"], Condition::VersionIs(1)).await;

        let batch = reader.next_batch(10).await.expect("next batch");
        let names: Vec<_> = batch.iter().map(|r| r["eventName"].as_str()).collect();
        assert_eq!(names, [Some("INSERT"), Some("MODIFY")]);
        let (insert, modify) = (&batch[0]["dynamodb"], &batch[1]["dynamodb"]);
        assert_eq!(insert["Keys"], json!({"pk": {"S": "order#1"}, "sk": {"S": "a"}}));
        assert_eq!(insert.get("OldImage"), None);
        assert_eq!(insert["NewImage"]["outbox"], binary(&first));
        assert_eq!(modify["OldImage"]["outbox"], binary(&first));
        assert_eq!(modify["NewImage"]["outbox"], binary(&second));
        assert_eq!(modify["NewImage"]["version"], json!({"N": "2"}));
        assert!(later(&sequence(&batch[1]), &sequence(&batch[0])));
        let written = insert["ApproximateCreationDateTime"].as_i64().expect("epoch seconds");
        assert!((chrono::Utc::now().timestamp() - written).abs() < 60, "{written}");

        for record in batch {
            let typed: EventRecord = serde_json::from_value(record).expect("an aws_lambda_events record");
            assert_eq!(typed.event_source_arn.as_deref(), Some(stream_arn.as_str()));
            assert!(typed.change.new_image.get("outbox").is_some());
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unacknowledged_records_come_again_and_acknowledged_ones_do_not() {
        let (store, reader, _) = setup().await;
        for sk in ["a", "b", "c"] {
            put(&store, sk, &[], Condition::NotExists).await;
        }
        let first = reader.next_batch(2).await.expect("first batch");
        assert_eq!(sks(&first), ["a", "b"]);
        let again = reader.next_batch(2).await.expect("the same batch");
        assert_eq!(again, first, "nothing acknowledged, nothing moved");

        reader.ack(&sequence(&again[0])).await.expect("ack a");
        let rest = reader.next_batch(10).await.expect("after a");
        assert_eq!(sks(&rest), ["b", "c"]);
        reader.ack(&sequence(&rest[1])).await.expect("ack c");
        assert!(reader.next_batch(10).await.expect("all acknowledged").is_empty());
        assert!(reader.next_batch(10).await.expect("still nothing").is_empty());

        put(&store, "d", &[], Condition::NotExists).await;
        assert_eq!(sks(&reader.next_batch(10).await.expect("a new record")), ["d"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_a_record_of_the_last_batch_can_be_acknowledged() {
        let (store, reader, _) = setup().await;
        let error = reader.ack("1").await.expect_err("no batch yet");
        assert!(matches!(&error, Error::Conflict(m) if m.contains("the last batch was empty")), "{error}");

        put(&store, "a", &[], Condition::NotExists).await;
        let batch = reader.next_batch(10).await.expect("batch");
        let error = reader.ack("1").await.expect_err("not in the batch");
        assert!(matches!(&error, Error::Conflict(m) if m.contains("not a record of the last batch")), "{error}");
        assert_eq!(reader.next_batch(10).await.expect("unmoved"), batch);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stream_that_does_not_exist_cannot_be_opened() {
        let config = MotoServer::shared().sdk_config().await;
        let arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/x", unique_name("none"));
        let error = StreamReader::open(&config, &arn).await.err().expect("refused");
        assert!(
            matches!(&error, Error::Store(StoreError::Backend(m)) if m.starts_with("DescribeStream on ")),
            "{error}"
        );
    }
}
