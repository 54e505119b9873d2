//! A runtime stopped and started again on the same resources carries on where it
//! stopped: on the aws backend, the same resource prefix finds the table, topics and
//! queues again, and the data directory keeps where the outbox relay's stream poller
//! stood, so nothing committed is skipped and nothing relayed is sent again.

use chrono::{TimeZone, Utc};
use orderflow_local::{Backend, ClockMode, Options, Runtime};
use orderflow_shared::adapters::aws::moto::{unique_name, MotoServer};

use crate::support::{retail_order, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_runtime_restarted_on_its_prefix_and_data_directory_carries_on() {
    let name = unique_name("restart");
    let dir = std::env::temp_dir().join(format!("orderflow-{name}"));
    let options = Options {
        backend: Backend::Aws { endpoint_url: MotoServer::shared().endpoint.clone() },
        rules: None,
        clock: ClockMode::Manual { start: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap() },
        resource_prefix: format!("{name}-"),
        data_dir: Some(dir.clone()),
        faults: Default::default(),
        sync: Default::default(),
        keep_published: None,
    };
    {
        let first = Harness { rt: Runtime::start(&options).await.expect("starts") };
        let (status, body) = first.post("/orders", &retail_order("r-1", "c-r1", "10.00")).await;
        assert_eq!(status, 201, "{body}");
        first.settle().await;
        // Stopped before it relayed the second order's write.
        let (status, body) = first.post("/orders", &retail_order("r-2", "c-r2", "10.00")).await;
        assert_eq!(status, 201, "{body}");
    }
    let second = Harness { rt: Runtime::start(&options).await.expect("starts again on the same resources") };
    assert_eq!(second.order("r-1").await["fulfilment"]["status"], "IN_PROGRESS");
    second.settle().await;
    assert_eq!(second.order("r-2").await["fulfilment"]["status"], "IN_PROGRESS", "relayed after the restart");
    // The first order's messages were relayed before the stop and not again after it;
    // the second's once, after it.
    for order in ["r-1", "r-2"] {
        assert_eq!(second.about("order-events", "order.dispatched", order).await.len(), 1, "{order}");
        assert_eq!(second.about("audit-requests", "audit.requested", order).await.len(), 1, "{order}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn embedded_on(dir: &std::path::Path) -> Options {
    Options {
        backend: Backend::Embedded,
        rules: None,
        clock: ClockMode::Manual { start: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap() },
        resource_prefix: String::new(),
        data_dir: Some(dir.to_path_buf()),
        faults: Default::default(),
        sync: Default::default(),
        keep_published: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_runtime_restarted_on_its_data_directory_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("orderflow-{}", unique_name("durable")));
    let options = embedded_on(&dir);
    {
        let first = Harness { rt: Runtime::start(&options).await.expect("starts on a new data directory") };
        let refused = Runtime::start(&options).await.err().expect("a second runtime on the directory is refused");
        assert!(refused.contains("in use by another orderflow-local"), "{refused}");
        let (status, body) = first.post("/orders", &retail_order("d-1", "c-d1", "10.00")).await;
        assert_eq!(status, 201, "{body}");
        first.settle().await;
        first.advance(60).await;
        // Stopped with a placement not yet relayed and an audit result still queued.
        let (status, body) = first.post("/orders", &retail_order("d-2", "c-d2", "10.00")).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = first
            .publish_raw("audit.failed", crate::support::audit_failed("aud-1", "d-1", "STOCK_SHORTAGE", first.now()))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let second = Harness { rt: Runtime::start(&options).await.expect("starts again on the directory") };
    // The manual clock carries on where it stood.
    assert_eq!(second.now(), Utc.with_ymd_and_hms(2026, 11, 22, 10, 1, 0).unwrap());
    // Every answered request is there, and a retry is still recognised.
    let (status, _) = second.post("/orders", &retail_order("d-1", "c-d1", "10.00")).await;
    assert_eq!(status, 200, "the same order again answers as a retry");
    let (status, _) = second.post("/orders", &retail_order("d-1", "c-d1", "99.00")).await;
    assert_eq!(status, 409, "the same id with another body is refused");
    second.settle().await;
    assert_eq!(second.order("d-2").await["fulfilment"]["status"], "IN_PROGRESS", "relayed after the restart");
    assert_eq!(second.order("d-1").await["audit_status"], "PROVISIONALLY_ACCEPTED", "the queued result was delivered");
    for order in ["d-1", "d-2"] {
        assert_eq!(second.about("order-events", "order.dispatched", order).await.len(), 1, "{order}");
    }
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
