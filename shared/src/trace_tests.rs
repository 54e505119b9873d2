use super::*;

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_traceparent_is_read_and_written_back_the_same() {
    let context = TraceContext::parse(VALID).expect("valid");
    assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(context.to_string(), VALID);
}

#[test]
fn malformed_traceparents_are_refused() {
    for bad in [
        "",
        "00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0é736-00f067aa0ba902b7-01",
    ] {
        assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn a_later_version_is_read_by_its_first_four_fields() {
    let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
    assert_eq!(
        TraceContext::parse(later).map(|c| c.trace_id().to_string()).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
}

#[test]
fn a_trace_started_on_lambda_takes_the_xray_trace_id() {
    let started =
        TraceContext::start(Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"));
    assert_eq!(started.trace_id(), "5759e988bd862e3fe1be46a994272793");
    assert!(TraceContext::parse(&started.to_string()).is_some());
    let random = TraceContext::start(Some("Root=garbage"));
    assert_ne!(random.trace_id(), TraceContext::start(None).trace_id());
    assert!(TraceContext::parse(&random.to_string()).is_some());
}

#[test]
fn a_derived_trace_is_the_same_for_the_same_message() {
    let (a, b) = (TraceContext::derived("m-1"), TraceContext::derived("m-1"));
    assert_eq!(a, b);
    assert_ne!(a.trace_id(), TraceContext::derived("m-2").trace_id());
    assert!(TraceContext::parse(&a.to_string()).is_some());
}

#[test]
fn a_record_continues_its_attribute_then_its_body_then_its_message_id() {
    let body = format!(r#"{{"specversion":"1.0","traceparent":"{VALID}"}}"#);
    let other = "00-11111111111111111111111111111111-2222222222222222-01";
    assert_eq!(for_record(Some(other), &body, "m-1").to_string(), other);
    assert_eq!(for_record(Some("junk"), &body, "m-1").to_string(), VALID);
    assert_eq!(for_record(None, "not json", "m-1"), TraceContext::derived("m-1"));
}

#[tokio::test]
async fn the_context_is_current_inside_its_scope_only() {
    assert_eq!(current(), None);
    let context = TraceContext::parse(VALID).expect("valid");
    let inside = scope(context.clone(), async { current() }).await;
    assert_eq!(inside, Some(context));
    assert_eq!(current(), None);
}
