//! `template.yaml` against `orderflow_shared::topology::TOPOLOGY`: the deployed wiring
//! must be exactly the wiring the local runtime builds. Each test checks one kind of
//! thing both ways: everything the topology lists is in the template, and the template
//! has nothing of that kind the topology lacks. Permissions are checked the same way:
//! a function may publish or send to exactly what it uses, and learns the address of
//! exactly that.
//!
//! CloudFormation short tags (`!Ref X`, `!GetAtt X.Arn`) parse as `Value::Tagged`; the
//! long forms (`{Ref: X}`, `{Fn::GetAtt: [X, Arn]}`) are understood too.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use orderflow_shared::topology::{
    Topology, AUDIT_REQUESTS, AUDIT_RESULTS, FULFILMENT_COMMANDS, FULFILMENT_STATUS, FULFILMENT_STATUS_QUEUE,
    HANDLER_NOTIFICATIONS, NOTIFICATIONS_QUEUE, ORDER_EVENTS, TOPOLOGY,
};
use serde_yaml::{Mapping, Value};

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    })
}

// ---------------------------------------------------------------------------------
// Reading the template
// ---------------------------------------------------------------------------------

fn resources() -> &'static Mapping {
    template().get("Resources").and_then(Value::as_mapping).expect("template.yaml has a Resources mapping")
}

fn resource(logical_id: &str) -> Option<&'static Value> {
    resources().get(logical_id)
}

fn type_of(resource: &Value) -> Option<&str> {
    resource.get("Type").and_then(Value::as_str)
}

/// Logical ids of every resource of a CloudFormation type.
fn ids_of_type(ty: &str) -> BTreeSet<String> {
    resources()
        .iter()
        .filter(|(_, r)| type_of(r) == Some(ty))
        .filter_map(|(id, _)| id.as_str().map(str::to_owned))
        .collect()
}

fn props(resource: &Value) -> &Value {
    static EMPTY: Value = Value::Null;
    resource.get("Properties").unwrap_or(&EMPTY)
}

/// Follows a path of mapping keys.
fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn tag_name(tagged: &serde_yaml::value::TaggedValue) -> String {
    tagged.tag.to_string().trim_start_matches('!').to_owned()
}

/// `!Ref X` or `{Ref: X}` → `X`.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(t) if tag_name(t) == "Ref" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// `!GetAtt X.Attr`, `!GetAtt [X, Attr]`, `{Fn::GetAtt: [X, Attr]}` or
/// `{Fn::GetAtt: X.Attr}` → `(X, Attr)`.
fn getatt_target(value: &Value) -> Option<(String, String)> {
    let args = match value {
        Value::Tagged(t) if tag_name(t) == "GetAtt" => &t.value,
        Value::Mapping(m) if m.len() == 1 => m.get("Fn::GetAtt")?,
        _ => return None,
    };
    match args {
        Value::String(s) => {
            let (id, attr) = s.split_once('.')?;
            Some((id.to_owned(), attr.to_owned()))
        }
        Value::Sequence(parts) if parts.len() == 2 => {
            Some((parts[0].as_str()?.to_owned(), parts[1].as_str()?.to_owned()))
        }
        _ => None,
    }
}

fn is_arn_of(value: &Value, logical_id: &str) -> bool {
    getatt_target(value).is_some_and(|(id, attr)| id == logical_id && attr == "Arn")
}

/// A number written as a YAML number or as a string (CloudFormation accepts both).
fn as_u64(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.trim().parse().ok())
}

/// A boolean written as a YAML bool or as `"true"`/`"false"`.
fn as_bool(value: &Value) -> Option<bool> {
    value.as_bool().or_else(|| value.as_str()?.parse().ok())
}

/// Whether `needle` occurs anywhere inside `value` (through tags too).
fn contains(value: &Value, needle: &Value) -> bool {
    value == needle
        || match value {
            Value::Sequence(items) => items.iter().any(|v| contains(v, needle)),
            Value::Mapping(m) => m.iter().any(|(k, v)| contains(k, needle) || contains(v, needle)),
            Value::Tagged(t) => contains(&t.value, needle),
            _ => false,
        }
}

fn function_logical_id(topology: &Topology, name: &str) -> &'static str {
    topology
        .functions
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("topology names function {name:?} but does not list it"))
        .logical_id
}

/// A function's environment: Globals.Function's variables, overridden by its own.
fn function_env(function: &Value) -> Mapping {
    let mut env = at(template(), &["Globals", "Function", "Environment", "Variables"])
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    if let Some(own) = at(props(function), &["Environment", "Variables"]).and_then(Value::as_mapping) {
        for (k, v) in own {
            env.insert(k.clone(), v.clone());
        }
    }
    env
}

/// A function's timeout in seconds: its own, or Globals.Function's.
fn function_timeout(function: &Value) -> Option<u64> {
    props(function).get("Timeout").or_else(|| at(template(), &["Globals", "Function", "Timeout"])).and_then(as_u64)
}

/// Whether `!Ref <logical_id>` occurs anywhere inside `value` (through tags too).
fn refs_anywhere(value: &Value, logical_id: &str) -> bool {
    ref_target(value) == Some(logical_id)
        || match value {
            Value::Sequence(items) => items.iter().any(|v| refs_anywhere(v, logical_id)),
            Value::Mapping(m) => m.values().any(|v| refs_anywhere(v, logical_id)),
            Value::Tagged(t) => refs_anywhere(&t.value, logical_id),
            _ => false,
        }
}

/// `reaudit-tick` → `ReauditTick`.
fn pascal_case(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// One event of a function in the template.
struct Event {
    function: String,
    name: String,
    kind: String,
    props: &'static Value,
}

/// Every event of every `AWS::Serverless::Function`.
fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for (id, function) in resources() {
        if type_of(function) != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = props(function).get("Events").and_then(Value::as_mapping) else {
            continue;
        };
        for (name, event) in events {
            out.push(Event {
                function: id.as_str().unwrap_or_default().to_owned(),
                name: name.as_str().unwrap_or_default().to_owned(),
                kind: event.get("Type").and_then(Value::as_str).unwrap_or_default().to_owned(),
                props: props(event),
            });
        }
    }
    out
}

fn events_of_kind(kinds: &[&str]) -> Vec<Event> {
    events().into_iter().filter(|e| kinds.contains(&e.kind.as_str())).collect()
}

fn sorted<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = items.into_iter().collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

#[test]
fn template_topics_match_topology() {
    let expected: BTreeSet<String> = TOPOLOGY.topics.iter().map(|t| t.logical_id.to_owned()).collect();
    let actual = ids_of_type("AWS::SNS::Topic");
    assert_eq!(actual, expected, "AWS::SNS::Topic resources differ from TOPOLOGY.topics");
}

#[test]
fn template_functions_match_topology() {
    let expected: BTreeSet<String> = TOPOLOGY.functions.iter().map(|f| f.logical_id.to_owned()).collect();
    let actual = ids_of_type("AWS::Serverless::Function");
    assert_eq!(actual, expected, "AWS::Serverless::Function resources differ from TOPOLOGY.functions");

    for f in TOPOLOGY.functions {
        let function = resource(f.logical_id).unwrap();
        let binary = at(function, &["Metadata", "BuildProperties", "Binary"]).and_then(Value::as_str);
        assert_eq!(binary, Some(f.name), "{}: Metadata.BuildProperties.Binary", f.logical_id);
    }
}

#[test]
fn every_function_learns_the_table_from_its_environment() {
    for f in TOPOLOGY.functions {
        let env = function_env(resource(f.logical_id).unwrap());
        let table = env
            .get(TOPOLOGY.table_env)
            .unwrap_or_else(|| panic!("{}: no {} variable", f.logical_id, TOPOLOGY.table_env));
        let table_id = ref_target(table)
            .unwrap_or_else(|| panic!("{}: {} is not a !Ref: {table:?}", f.logical_id, TOPOLOGY.table_env));
        assert_eq!(
            resource(table_id).and_then(type_of),
            Some("AWS::DynamoDB::Table"),
            "{}: {} must !Ref the DynamoDB table",
            f.logical_id,
            TOPOLOGY.table_env
        );
    }
}

#[test]
fn template_routes_match_topology() {
    let api_events = events_of_kind(&["HttpApi"]);

    for route in TOPOLOGY.routes {
        let matching: Vec<&Event> = api_events
            .iter()
            .filter(|e| {
                e.props.get("Method").and_then(Value::as_str).is_some_and(|m| m.eq_ignore_ascii_case(route.method))
                    && e.props.get("Path").and_then(Value::as_str) == Some(route.path)
            })
            .collect();
        assert_eq!(matching.len(), 1, "{} {}: expected exactly one HttpApi event", route.method, route.path);
        let event = matching[0];

        let function = function_logical_id(&TOPOLOGY, route.function);
        assert_eq!(event.function, function, "{} {}: on the wrong function", route.method, route.path);

        let unauthenticated = at(event.props, &["Auth", "Authorizer"]).and_then(Value::as_str) == Some("NONE");
        assert_eq!(
            unauthenticated, !route.authorized,
            "{} {} ({}): `Auth: {{Authorizer: NONE}}` must be set exactly when the route is not authorized",
            route.method, route.path, event.name
        );
        let scopes: Vec<&str> = at(event.props, &["Auth", "AuthorizationScopes"])
            .and_then(Value::as_sequence)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            sorted(scopes.iter().map(|s| s.to_string())),
            sorted(route.scopes.iter().map(|s| s.to_string())),
            "{} {} ({}): Auth.AuthorizationScopes must be the route's scopes",
            route.method,
            route.path,
            event.name
        );
    }

    let expected = sorted(TOPOLOGY.routes.iter().map(|r| (r.method.to_ascii_uppercase(), r.path.to_owned())));
    let actual = sorted(api_events.iter().map(|e| {
        let method = e.props.get("Method").and_then(Value::as_str).unwrap_or_default();
        let path = e.props.get("Path").and_then(Value::as_str).unwrap_or_default();
        (method.to_ascii_uppercase(), path.to_owned())
    }));
    assert_eq!(actual, expected, "HttpApi events differ from TOPOLOGY.routes");
}

#[test]
fn authorized_routes_require_a_jwt_from_the_configured_issuer() {
    for event in events_of_kind(&["HttpApi"]) {
        let api_id = event
            .props
            .get("ApiId")
            .and_then(ref_target)
            .unwrap_or_else(|| panic!("{}.{}: ApiId must !Ref the HttpApi", event.function, event.name));
        let api = resource(api_id).unwrap_or_else(|| panic!("{}.{}: no resource {api_id}", event.function, event.name));
        assert_eq!(type_of(api), Some("AWS::Serverless::HttpApi"), "{api_id}");
        let default = at(props(api), &["Auth", "DefaultAuthorizer"]).and_then(Value::as_str);
        assert_eq!(default, Some("OAuth2Authorizer"), "{api_id}: Auth.DefaultAuthorizer");
        let jwt = at(props(api), &["Auth", "Authorizers", "OAuth2Authorizer", "JwtConfiguration"])
            .unwrap_or_else(|| panic!("{api_id}: no JwtConfiguration"));
        assert_eq!(jwt.get("issuer").and_then(ref_target), Some("JwtIssuer"), "{api_id}: issuer");
        let audience = jwt.get("audience").and_then(Value::as_sequence).and_then(|a| a.first()).and_then(ref_target);
        assert_eq!(audience, Some("JwtAudience"), "{api_id}: audience");
    }
}

#[test]
fn template_queues_match_topology_with_dead_letter_queues_and_batch_failures() {
    let sqs_events = events_of_kind(&["SQS"]);

    for q in TOPOLOGY.queues {
        let queue = resource(q.logical_id).unwrap_or_else(|| panic!("queue {} missing", q.logical_id));
        assert_eq!(type_of(queue), Some("AWS::SQS::Queue"), "{}", q.logical_id);
        let dlq =
            resource(q.dlq_logical_id).unwrap_or_else(|| panic!("dead-letter queue {} missing", q.dlq_logical_id));
        assert_eq!(type_of(dlq), Some("AWS::SQS::Queue"), "{}", q.dlq_logical_id);

        let redrive = props(queue).get("RedrivePolicy").unwrap_or_else(|| panic!("{}: no RedrivePolicy", q.logical_id));
        assert!(
            redrive.get("deadLetterTargetArn").is_some_and(|v| is_arn_of(v, q.dlq_logical_id)),
            "{}: RedrivePolicy.deadLetterTargetArn must be !GetAtt {}.Arn",
            q.logical_id,
            q.dlq_logical_id
        );
        assert_eq!(
            redrive.get("maxReceiveCount").and_then(as_u64),
            Some(u64::from(q.max_receive_count)),
            "{}: RedrivePolicy.maxReceiveCount",
            q.logical_id
        );
        assert_eq!(
            props(queue).get("VisibilityTimeout").and_then(as_u64),
            Some(u64::from(q.visibility_timeout_secs)),
            "{}: VisibilityTimeout",
            q.logical_id
        );

        let consumer = function_logical_id(&TOPOLOGY, q.consumer);
        let timeout = function_timeout(resource(consumer).unwrap())
            .unwrap_or_else(|| panic!("{consumer}: no Timeout (own or Globals)"));
        assert!(
            u64::from(q.visibility_timeout_secs) >= 6 * timeout,
            "{}: VisibilityTimeout {} is less than 6 x {consumer}'s {timeout} s timeout",
            q.logical_id,
            q.visibility_timeout_secs
        );

        let feeding: Vec<&Event> =
            sqs_events.iter().filter(|e| e.props.get("Queue").is_some_and(|v| is_arn_of(v, q.logical_id))).collect();
        assert_eq!(feeding.len(), 1, "{}: expected exactly one SQS event", q.logical_id);
        let event = feeding[0];
        assert_eq!(event.function, consumer, "{}: SQS event on the wrong function", q.logical_id);
        assert_eq!(
            event.props.get("BatchSize").and_then(as_u64),
            Some(u64::from(q.batch_size)),
            "{}.{}: BatchSize",
            event.function,
            event.name
        );
        assert_eq!(
            response_types(event),
            ["ReportBatchItemFailures"],
            "{}.{}: FunctionResponseTypes",
            event.function,
            event.name
        );
    }

    let expected: BTreeSet<String> = TOPOLOGY
        .queues
        .iter()
        .flat_map(|q| [q.logical_id, q.dlq_logical_id])
        .chain([TOPOLOGY.stream.failure_queue.logical_id])
        .map(str::to_owned)
        .collect();
    assert_eq!(
        ids_of_type("AWS::SQS::Queue"),
        expected,
        "AWS::SQS::Queue resources differ from TOPOLOGY.queues, their dead-letter queues and the stream's failure queue"
    );
    for event in &sqs_events {
        let known =
            TOPOLOGY.queues.iter().any(|q| event.props.get("Queue").is_some_and(|v| is_arn_of(v, q.logical_id)));
        assert!(known, "{}.{}: SQS event on a queue the topology lacks", event.function, event.name);
    }
}

#[test]
fn template_subscriptions_match_topology() {
    let subscriptions: Vec<(String, &Value)> = resources()
        .iter()
        .filter(|(_, r)| type_of(r) == Some("AWS::SNS::Subscription"))
        .map(|(id, r)| (id.as_str().unwrap_or_default().to_owned(), props(r)))
        .collect();

    for s in TOPOLOGY.subscriptions {
        let topic = TOPOLOGY.topic(s.topic).unwrap_or_else(|| panic!("subscription to unknown topic {}", s.topic));
        let queue = TOPOLOGY.queue(s.queue).unwrap_or_else(|| panic!("subscription of unknown queue {}", s.queue));
        let what = format!("subscription {} -> {}", s.topic, s.queue);

        let matching: Vec<&(String, &Value)> = subscriptions
            .iter()
            .filter(|(_, p)| {
                p.get("TopicArn").and_then(ref_target) == Some(topic.logical_id)
                    && p.get("Endpoint").is_some_and(|v| is_arn_of(v, queue.logical_id))
            })
            .collect();
        assert_eq!(matching.len(), 1, "{what}: expected exactly one AWS::SNS::Subscription");
        let (id, p) = matching[0];

        assert_eq!(p.get("Protocol").and_then(Value::as_str), Some("sqs"), "{what} ({id}): Protocol");
        let raw = p.get("RawMessageDelivery").and_then(as_bool).unwrap_or(false);
        assert_eq!(raw, s.raw_delivery, "{what} ({id}): RawMessageDelivery");

        let expected_filter: Option<Value> = s.filter_policy.map(|json| {
            serde_yaml::from_str(json).unwrap_or_else(|e| panic!("{what}: topology filter policy is not JSON: {e}"))
        });
        let actual_filter: Option<Value> = p.get("FilterPolicy").map(|v| match v {
            Value::String(json) => {
                serde_yaml::from_str(json).unwrap_or_else(|e| panic!("{what} ({id}): FilterPolicy: {e}"))
            }
            other => other.clone(),
        });
        assert_eq!(actual_filter, expected_filter, "{what} ({id}): FilterPolicy");

        // Without a queue policy letting the topic send, SNS drops every delivery.
        let allowed = resources().values().any(|r| {
            type_of(r) == Some("AWS::SQS::QueuePolicy")
                && props(r)
                    .get("Queues")
                    .and_then(Value::as_sequence)
                    .is_some_and(|qs| qs.iter().any(|v| ref_target(v) == Some(queue.logical_id)))
                && props(r).get("PolicyDocument").is_some_and(|doc| {
                    contains(doc, &Value::String("sns.amazonaws.com".into()))
                        && doc
                            .get("Statement")
                            .and_then(Value::as_sequence)
                            .is_some_and(|st| st.iter().any(|st| statement_refs(st, topic.logical_id)))
                })
        });
        assert!(allowed, "{what}: no AWS::SQS::QueuePolicy lets {} send to {}", topic.logical_id, queue.logical_id);
    }

    assert_eq!(
        subscriptions.len(),
        TOPOLOGY.subscriptions.len(),
        "AWS::SNS::Subscription resources differ from TOPOLOGY.subscriptions: {:?}",
        subscriptions.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    assert!(
        events_of_kind(&["SNS"]).is_empty(),
        "subscriptions are AWS::SNS::Subscription resources into queues, not SNS events on functions"
    );
}

/// Whether a policy statement mentions `!Ref <logical_id>` anywhere (its condition).
fn statement_refs(statement: &Value, logical_id: &str) -> bool {
    match statement {
        v if ref_target(v) == Some(logical_id) => true,
        Value::Sequence(items) => items.iter().any(|v| statement_refs(v, logical_id)),
        Value::Mapping(m) => m.values().any(|v| statement_refs(v, logical_id)),
        _ => false,
    }
}

#[test]
fn template_schedules_match_topology() {
    let schedule_events = events_of_kind(&["Schedule", "ScheduleV2"]);
    let expression = |e: &Event| {
        let key = if e.kind == "ScheduleV2" { "ScheduleExpression" } else { "Schedule" };
        e.props.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
    };

    for s in TOPOLOGY.schedules {
        let function = function_logical_id(&TOPOLOGY, s.function);
        let matching: Vec<&Event> =
            schedule_events.iter().filter(|e| e.function == function && expression(e) == s.expression).collect();
        assert_eq!(
            matching.len(),
            1,
            "schedule {} ({}): expected exactly one Schedule/ScheduleV2 event on {function}",
            s.name,
            s.expression
        );
        assert_eq!(
            matching[0].name,
            pascal_case(s.name),
            "schedule {}: the event on {function} is named after the schedule, in PascalCase",
            s.name
        );
    }

    let expected = sorted(
        TOPOLOGY
            .schedules
            .iter()
            .map(|s| (function_logical_id(&TOPOLOGY, s.function).to_owned(), s.expression.to_owned())),
    );
    let actual = sorted(schedule_events.iter().map(|e| (e.function.clone(), expression(e))));
    assert_eq!(actual, expected, "schedule events differ from TOPOLOGY.schedules");

    for ty in ["AWS::Scheduler::Schedule", "AWS::Events::Rule"] {
        assert!(
            ids_of_type(ty).is_empty(),
            "schedules are events on their function; the template has {ty} resources the topology lacks"
        );
    }
}

/// An `AWS::CloudWatch::Alarm` on an SQS metric of one queue.
struct QueueAlarm {
    id: String,
    metric: String,
    comparison: String,
    threshold: f64,
    props: &'static Value,
}

/// The alarms whose metric is in `AWS/SQS` with the dimension `QueueName` =
/// `!GetAtt <queue>.QueueName`.
fn queue_alarms(queue: &str) -> Vec<QueueAlarm> {
    resources()
        .iter()
        .filter(|(_, r)| type_of(r) == Some("AWS::CloudWatch::Alarm"))
        .filter(|(_, r)| props(r).get("Namespace").and_then(Value::as_str) == Some("AWS/SQS"))
        .filter(|(_, r)| {
            props(r).get("Dimensions").and_then(Value::as_sequence).is_some_and(|dims| {
                dims.iter().any(|d| {
                    d.get("Name").and_then(Value::as_str) == Some("QueueName")
                        && d.get("Value").and_then(getatt_target) == Some((queue.to_owned(), "QueueName".to_owned()))
                })
            })
        })
        .map(|(id, r)| {
            let p = props(r);
            let text = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
            QueueAlarm {
                id: id.as_str().unwrap_or_default().to_owned(),
                metric: text("MetricName"),
                comparison: text("ComparisonOperator"),
                threshold: p
                    .get("Threshold")
                    .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                    .unwrap_or(f64::NAN),
                props: p,
            }
        })
        .collect()
}

#[test]
fn every_queue_and_dead_letter_queue_has_an_alarm() {
    // The alarm-action parameter, and the condition that leaves it out when empty.
    let parameter = "AlarmActionArn";
    assert!(
        at(template(), &["Parameters", parameter]).is_some(),
        "template.yaml has no {parameter} parameter for the alarms to notify"
    );
    let notifies =
        |alarm: &QueueAlarm| alarm.props.get("AlarmActions").is_some_and(|actions| refs_anywhere(actions, parameter));

    for q in TOPOLOGY.queues {
        // A message in a dead-letter queue needs a person: alarm on the first one.
        let dlq = queue_alarms(q.dlq_logical_id);
        let visible: Vec<&QueueAlarm> = dlq
            .iter()
            .filter(|a| {
                a.metric == "ApproximateNumberOfMessagesVisible"
                    && ((a.comparison == "GreaterThanThreshold" && a.threshold == 0.0)
                        || (a.comparison == "GreaterThanOrEqualToThreshold" && a.threshold == 1.0))
            })
            .collect();
        assert!(
            !visible.is_empty(),
            "{}: no alarm on ApproximateNumberOfMessagesVisible > 0 (found {:?})",
            q.dlq_logical_id,
            dlq.iter().map(|a| &a.id).collect::<Vec<_>>()
        );
        for alarm in visible {
            assert!(notifies(alarm), "{}: AlarmActions must notify !Ref {parameter}", alarm.id);
        }

        // A queue whose oldest message keeps ageing has a stuck or slow consumer.
        let main = queue_alarms(q.logical_id);
        let age: Vec<&QueueAlarm> = main
            .iter()
            .filter(|a| {
                a.metric == "ApproximateAgeOfOldestMessage"
                    && matches!(a.comparison.as_str(), "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold")
                    && a.threshold > 0.0
            })
            .collect();
        assert!(
            !age.is_empty(),
            "{}: no alarm on ApproximateAgeOfOldestMessage (found {:?})",
            q.logical_id,
            main.iter().map(|a| &a.id).collect::<Vec<_>>()
        );
        for alarm in age {
            assert!(notifies(alarm), "{}: AlarmActions must notify !Ref {parameter}", alarm.id);
        }
    }

    // And no queue in the template goes unwatched.
    for queue in ids_of_type("AWS::SQS::Queue") {
        assert!(!queue_alarms(&queue).is_empty(), "{queue}: no CloudWatch alarm");
    }
}

/// The metrics' dashboard and alarms.
mod metrics;

// ---------------------------------------------------------------------------------
// The table's stream and the outbox relay
// ---------------------------------------------------------------------------------

/// The table every function's `TABLE_NAME` refers to.
fn table_id() -> String {
    let relay = resource(function_logical_id(&TOPOLOGY, TOPOLOGY.stream.function)).unwrap();
    function_env(relay)
        .get(TOPOLOGY.table_env)
        .and_then(ref_target)
        .unwrap_or_else(|| panic!("{}: {} must !Ref the table", TOPOLOGY.stream.function, TOPOLOGY.table_env))
        .to_owned()
}

#[test]
fn the_table_streams_every_write_to_the_relay_through_one_mapping() {
    let stream = &TOPOLOGY.stream;
    let table_id = table_id();
    let table = resource(&table_id).unwrap();
    assert_eq!(
        at(props(table), &["StreamSpecification", "StreamViewType"]).and_then(Value::as_str),
        Some("NEW_AND_OLD_IMAGES"),
        "{table_id}: the relay needs each write's item before and after it"
    );

    let relay = function_logical_id(&TOPOLOGY, stream.function);
    let mappings = events_of_kind(&["DynamoDB", "Kinesis"]);
    assert_eq!(
        mappings.iter().map(|e| (e.function.as_str(), e.name.as_str())).collect::<Vec<_>>(),
        [(relay, stream.event_logical_id)],
        "stream events differ from TOPOLOGY.stream: exactly one DynamoDB event, on {relay}, named {}",
        stream.event_logical_id
    );
    let event = &mappings[0];
    let what = format!("{relay}.{}", event.name);
    assert_eq!(event.kind, "DynamoDB", "{what}: Type");
    assert_eq!(
        event.props.get("Stream").and_then(getatt_target),
        Some((table_id.clone(), "StreamArn".to_owned())),
        "{what}: Stream must be !GetAtt {table_id}.StreamArn"
    );
    // Records written before the mapping existed are still in the stream and unsent.
    assert_eq!(event.props.get("StartingPosition").and_then(Value::as_str), Some("TRIM_HORIZON"), "{what}");
    assert_eq!(event.props.get("BatchSize").and_then(as_u64), Some(u64::from(stream.batch_size)), "{what}: BatchSize");
    assert_eq!(
        event.props.get("MaximumRetryAttempts").and_then(as_u64),
        Some(u64::from(stream.maximum_retry_attempts)),
        "{what}: MaximumRetryAttempts"
    );
    assert_eq!(
        event.props.get("BisectBatchOnFunctionError").and_then(as_bool).unwrap_or(false),
        stream.bisect_batch_on_function_error,
        "{what}: BisectBatchOnFunctionError"
    );
    assert_eq!(response_types(event), ["ReportBatchItemFailures"], "{what}: FunctionResponseTypes");
    let on_failure = at(event.props, &["DestinationConfig", "OnFailure"])
        .unwrap_or_else(|| panic!("{what}: no DestinationConfig.OnFailure"));
    assert_eq!(on_failure.get("Type").and_then(Value::as_str), Some("SQS"), "{what}: OnFailure.Type");
    assert!(
        on_failure.get("Destination").is_some_and(|v| is_arn_of(v, stream.failure_queue.logical_id)),
        "{what}: OnFailure.Destination must be !GetAtt {}.Arn",
        stream.failure_queue.logical_id
    );

    // The relay reads the stream and nothing of the table itself.
    let stream_arn = format!("{table_id}.StreamArn");
    for action in
        ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    {
        assert_eq!(granted(relay, action), BTreeSet::from([stream_arn.clone()]), "{relay}: {action}");
    }
    for action in statement_actions(relay).into_iter().filter(|a| a.starts_with("dynamodb:")) {
        assert_eq!(
            granted(relay, &action),
            BTreeSet::from([stream_arn.clone()]),
            "{relay}: {action} on anything but the stream"
        );
    }
}

#[test]
fn the_relay_failure_queue_keeps_failures_for_a_person_and_alarms() {
    let fq = &TOPOLOGY.stream.failure_queue;
    let queue = resource(fq.logical_id).unwrap_or_else(|| panic!("failure queue {} missing", fq.logical_id));
    assert_eq!(type_of(queue), Some("AWS::SQS::Queue"), "{}", fq.logical_id);
    let p = props(queue);
    assert!(
        p.get("SqsManagedSseEnabled").and_then(as_bool) == Some(true) || p.get("KmsMasterKeyId").is_some(),
        "{}: not encrypted at rest",
        fq.logical_id
    );
    assert_eq!(
        p.get("MessageRetentionPeriod").and_then(as_u64),
        Some(14 * 24 * 3600),
        "{}: MessageRetentionPeriod (14 days, like the dead-letter queues)",
        fq.logical_id
    );
    assert!(p.get("RedrivePolicy").is_none(), "{}: a failure queue has nowhere further to go", fq.logical_id);
    let consumers: Vec<String> = events_of_kind(&["SQS"])
        .into_iter()
        .filter(|e| e.props.get("Queue").is_some_and(|v| is_arn_of(v, fq.logical_id)))
        .map(|e| format!("{}.{}", e.function, e.name))
        .collect();
    assert!(consumers.is_empty(), "{}: waits for a person, but {consumers:?} consume it", fq.logical_id);

    let alarm = queue_alarms(fq.logical_id).into_iter().find(|a| a.id == fq.alarm_logical_id).unwrap_or_else(|| {
        panic!("{}: no AWS/SQS alarm on {} (QueueName = !GetAtt {0}.QueueName)", fq.alarm_logical_id, fq.logical_id)
    });
    assert_eq!(alarm.metric, "ApproximateNumberOfMessagesVisible", "{}", alarm.id);
    assert!(
        (alarm.comparison == "GreaterThanThreshold" && alarm.threshold == 0.0)
            || (alarm.comparison == "GreaterThanOrEqualToThreshold" && alarm.threshold == 1.0),
        "{}: must fire on the first message ({} {})",
        alarm.id,
        alarm.comparison,
        alarm.threshold
    );
    assert!(
        alarm.props.get("AlarmActions").is_some_and(|a| refs_anywhere(a, "AlarmActionArn")),
        "{}: AlarmActions must notify !Ref AlarmActionArn",
        alarm.id
    );

    // Unreadable records are sent there by the relay itself, and the mapping's
    // on-failure destination sends with the relay's role.
    let relay = function_logical_id(&TOPOLOGY, TOPOLOGY.stream.function);
    assert!(
        granted(relay, "sqs:SendMessage").contains(fq.logical_id),
        "{relay}: no sqs:SendMessage on {}",
        fq.logical_id
    );
    let env = function_env(resource(relay).unwrap());
    assert_eq!(
        env.get(fq.env).and_then(ref_target),
        Some(fq.logical_id),
        "{relay}: {} must be !Ref {}",
        fq.env,
        fq.logical_id
    );
}

#[test]
fn every_event_source_mapping_reports_batch_item_failures() {
    // Every batch handler answers with the failed items only; a mapping without
    // ReportBatchItemFailures would take that answer for a whole-batch success.
    for event in events_of_kind(&["SQS", "DynamoDB", "Kinesis"]) {
        assert_eq!(
            response_types(&event),
            ["ReportBatchItemFailures"],
            "{}.{}: FunctionResponseTypes",
            event.function,
            event.name
        );
    }
}

// ---------------------------------------------------------------------------------
// Who publishes and sends
// ---------------------------------------------------------------------------------

/// What one function publishes and sends on AWS, by topology name.
struct Sender {
    function: &'static str,
    topics: &'static [&'static str],
    queues: &'static [&'static str],
}

/// The topology does not say who sends what, so it is written here. A transition writes
/// its messages into the item's outbox; the relay publishes them (to every topic but
/// audit-results, which only the middle office publishes), sends notification requests
/// straight to the notifier's queue and unreadable records to its failure queue. The
/// status endpoint holds no state and queues each report itself. Nothing else publishes
/// or sends.
const SENDERS: &[Sender] = &[
    Sender {
        function: TOPOLOGY.stream.function,
        topics: &[AUDIT_REQUESTS, ORDER_EVENTS, HANDLER_NOTIFICATIONS, FULFILMENT_COMMANDS],
        queues: &[NOTIFICATIONS_QUEUE, TOPOLOGY.stream.failure_queue.name],
    },
    Sender { function: FULFILMENT_STATUS, topics: &[], queues: &[FULFILMENT_STATUS_QUEUE] },
];

/// `(logical id, env)` of every queue a function could send to: the topology's queues
/// and the stream's failure queue.
fn sendable_queues() -> Vec<(&'static str, &'static str, &'static str)> {
    let fq = &TOPOLOGY.stream.failure_queue;
    TOPOLOGY.queues.iter().map(|q| (q.name, q.logical_id, q.env)).chain([(fq.name, fq.logical_id, fq.env)]).collect()
}

#[test]
fn functions_publish_and_send_exactly_what_they_use_and_learn_only_those_addresses() {
    for s in SENDERS {
        function_logical_id(&TOPOLOGY, s.function);
    }
    let queues = sendable_queues();
    for f in TOPOLOGY.functions {
        let sender = SENDERS.iter().find(|s| s.function == f.name);
        let topics = sender.map_or(&[][..], |s| s.topics);
        let sends = sender.map_or(&[][..], |s| s.queues);
        let env = function_env(resource(f.logical_id).unwrap());

        let expected: BTreeSet<String> = topics
            .iter()
            .map(|t| TOPOLOGY.topic(t).unwrap_or_else(|| panic!("unknown topic {t}")).logical_id.to_owned())
            .collect();
        assert_eq!(granted(f.logical_id, "sns:Publish"), expected, "{}: sns:Publish resources", f.logical_id);
        for topic in TOPOLOGY.topics {
            let value = env.get(topic.env).map(|v| ref_target(v).unwrap_or("(not a !Ref)"));
            let wanted = topics.contains(&topic.name).then_some(topic.logical_id);
            assert_eq!(
                value, wanted,
                "{}: {} (set exactly when it publishes to {})",
                f.logical_id, topic.env, topic.name
            );
        }

        let expected: BTreeSet<String> = sends
            .iter()
            .map(|q| {
                queues.iter().find(|(name, ..)| name == q).unwrap_or_else(|| panic!("unknown queue {q}")).1.to_owned()
            })
            .collect();
        assert_eq!(granted(f.logical_id, "sqs:SendMessage"), expected, "{}: sqs:SendMessage resources", f.logical_id);
        for (name, logical_id, var) in &queues {
            let value = env.get(*var).map(|v| ref_target(v).unwrap_or("(not a !Ref)"));
            let wanted = sends.contains(name).then_some(*logical_id);
            assert_eq!(value, wanted, "{}: {var} (set exactly when it sends to {name})", f.logical_id);
        }
    }
}

// ---------------------------------------------------------------------------------
// Reading a function's inline IAM statements
// ---------------------------------------------------------------------------------

fn response_types(event: &Event) -> Vec<&str> {
    event
        .props
        .get("FunctionResponseTypes")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn one_or_many(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

/// The logical id of a function's execution role: `Role: !GetAtt <Role>.Arn`, a role
/// of this template. A function without one would get a role SAM generates, with AWS
/// managed policies these tests cannot see.
fn role_of(function_id: &str) -> String {
    let function = resource(function_id).unwrap_or_else(|| panic!("no resource {function_id}"));
    assert!(
        props(function).get("Policies").is_none(),
        "{function_id}: Policies (SAM would generate a role with managed policies); give it a Role"
    );
    let (role, attribute) = props(function)
        .get("Role")
        .and_then(getatt_target)
        .unwrap_or_else(|| panic!("{function_id}: Role is not !GetAtt <a role of this template>.Arn"));
    assert_eq!(attribute, "Arn", "{function_id}: Role");
    let role_resource = resource(&role).unwrap_or_else(|| panic!("{function_id}: no resource {role}"));
    assert_eq!(type_of(role_resource), Some("AWS::IAM::Role"), "{function_id}: {role}");
    role
}

/// The Allow statements of a function's execution role's inline policies.
fn allow_statements(function_id: &str) -> Vec<&'static Value> {
    let role = role_of(function_id);
    let role_props = props(resource(&role).unwrap_or_else(|| panic!("no resource {role}")));
    assert!(role_props.get("ManagedPolicyArns").is_none(), "{role}: managed policies cannot be checked here");
    let mut out = Vec::new();
    for policy in one_or_many(role_props.get("Policies")) {
        let statements = at(policy, &["PolicyDocument", "Statement"])
            .unwrap_or_else(|| panic!("{role}: Policies entry {policy:?} has no PolicyDocument.Statement"));
        let allows = one_or_many(Some(statements)).into_iter();
        out.extend(allows.filter(|st| st.get("Effect").and_then(Value::as_str) == Some("Allow")));
    }
    out
}

#[test]
fn every_function_has_its_own_role_writing_only_its_own_log_group() {
    let mut roles = BTreeSet::new();
    for f in TOPOLOGY.functions {
        let role = role_of(f.logical_id);
        assert!(roles.insert(role.clone()), "{}: shares {role} with another function", f.logical_id);
        let function = resource(f.logical_id).unwrap_or_else(|| panic!("no resource {}", f.logical_id));
        let group = at(props(function), &["LoggingConfig", "LogGroup"])
            .and_then(ref_target)
            .unwrap_or_else(|| panic!("{}: LoggingConfig.LogGroup is not a !Ref to its log group", f.logical_id));
        let logs: Vec<&Value> = allow_statements(f.logical_id)
            .into_iter()
            .filter(|st| one_or_many(st.get("Action")).iter().any(|a| a.as_str() == Some("logs:PutLogEvents")))
            .collect();
        assert_eq!(logs.len(), 1, "{}: one statement grants logs:PutLogEvents", f.logical_id);
        let resources = one_or_many(logs[0].get("Resource"));
        assert!(
            resources.len() == 1 && is_arn_of(resources[0], group),
            "{}: logs:PutLogEvents on its own log group {group} only, not {resources:?}",
            f.logical_id
        );
        for st in allow_statements(f.logical_id) {
            let actions = one_or_many(st.get("Action"));
            if one_or_many(st.get("Resource")).iter().any(|r| r.as_str() == Some("*")) {
                assert!(
                    actions.iter().all(|a| a.as_str().is_some_and(|a| a.starts_with("xray:"))),
                    "{}: only X-Ray's trace actions may have Resource \"*\", not {actions:?}",
                    f.logical_id
                );
            }
        }
    }
}

/// Every action a function's Allow statements name.
fn statement_actions(function_id: &str) -> BTreeSet<String> {
    allow_statements(function_id)
        .into_iter()
        .flat_map(|st| one_or_many(st.get("Action")))
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// What a function may do `action` on, each resource named by its logical id (`X` for
/// `!Ref X` and `!GetAtt X.Arn`, `X.Attr` for another attribute) or written out.
fn granted(function_id: &str, action: &str) -> BTreeSet<String> {
    allow_statements(function_id)
        .into_iter()
        .filter(|st| {
            one_or_many(st.get("Action")).iter().any(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(action)))
        })
        .flat_map(|st| one_or_many(st.get("Resource")))
        .map(|r| match (ref_target(r), getatt_target(r)) {
            (Some(id), _) => id.to_owned(),
            (_, Some((id, attr))) if attr == "Arn" => id,
            (_, Some((id, attr))) => format!("{id}.{attr}"),
            _ => format!("{r:?}"),
        })
        .collect()
}

/// The statements of every `AWS::SNS::TopicPolicy` that applies to a topic.
fn topic_policy_statements(topic_id: &str) -> Vec<&'static Value> {
    resources()
        .values()
        .filter(|r| type_of(r) == Some("AWS::SNS::TopicPolicy"))
        .filter(|r| one_or_many(props(r).get("Topics")).iter().any(|t| ref_target(t) == Some(topic_id)))
        .flat_map(|r| one_or_many(at(props(r), &["PolicyDocument", "Statement"])))
        .collect()
}

fn refs_parameter(value: Option<&Value>, parameter: &str) -> bool {
    value.and_then(ref_target) == Some(parameter)
}

#[test]
fn only_the_middle_office_publishes_audit_results_with_a_key_it_may_use() {
    let topic = TOPOLOGY.topic(AUDIT_RESULTS).unwrap_or_else(|| panic!("no topic {AUDIT_RESULTS}"));
    let statements = topic_policy_statements(topic.logical_id);
    let publish = |st: &&Value| one_or_many(st.get("Action")).iter().any(|a| a.as_str() == Some("sns:Publish"));
    let effect = |st: &&Value, e: &str| st.get("Effect").and_then(Value::as_str) == Some(e);
    let allows: Vec<_> = statements.iter().filter(|st| publish(st) && effect(st, "Allow")).collect();
    assert_eq!(allows.len(), 1, "{}: one statement lets principals publish", topic.logical_id);
    assert!(
        refs_parameter(at(allows[0], &["Principal", "AWS"]), "MiddleOfficePrincipals"),
        "{}: publishers are MiddleOfficePrincipals",
        topic.logical_id
    );
    let denies: Vec<_> = statements.iter().filter(|st| publish(st) && effect(st, "Deny")).collect();
    assert!(
        denies.len() == 1
            && refs_parameter(
                at(denies[0], &["Condition", "ArnNotLike", "aws:PrincipalArn"]),
                "MiddleOfficePrincipals"
            ),
        "{}: publishing is denied to every principal but MiddleOfficePrincipals",
        topic.logical_id
    );

    let topic_resource = resource(topic.logical_id).unwrap_or_else(|| panic!("no resource {}", topic.logical_id));
    let key = props(topic_resource)
        .get("KmsMasterKeyId")
        .and_then(ref_target)
        .unwrap_or_else(|| panic!("{}: KmsMasterKeyId is not a key of this template", topic.logical_id));
    let key_resource = resource(key).unwrap_or_else(|| panic!("no resource {key}"));
    assert_eq!(type_of(key_resource), Some("AWS::KMS::Key"), "{key}");
    let users: Vec<&Value> = one_or_many(at(props(key_resource), &["KeyPolicy", "Statement"]))
        .into_iter()
        .filter(|st| one_or_many(st.get("Action")).iter().any(|a| a.as_str() == Some("kms:GenerateDataKey")))
        .collect();
    assert!(
        users.len() == 1 && refs_parameter(at(users[0], &["Principal", "AWS"]), "MiddleOfficePrincipals"),
        "{key}: only MiddleOfficePrincipals may use the key"
    );
}

#[test]
fn other_accounts_may_only_subscribe_to_the_outbound_topics_and_only_when_configured() {
    for name in [ORDER_EVENTS, FULFILMENT_COMMANDS] {
        let topic = TOPOLOGY.topic(name).unwrap_or_else(|| panic!("no topic {name}"));
        let statements = topic_policy_statements(topic.logical_id);
        assert!(!statements.is_empty(), "{}: no topic policy (SNS's default allows Principal \"*\")", topic.logical_id);
        let outside: Vec<String> =
            statements.iter().map(|st| format!("{st:?}")).filter(|text| text.contains("SubscriberAccounts")).collect();
        assert_eq!(outside.len(), 1, "{}: one statement lets SubscriberAccounts in", topic.logical_id);
        let actions: Vec<&str> = outside[0].split('"').filter(|w| w.starts_with("sns:")).collect();
        assert_eq!(actions, ["sns:Subscribe"], "{}: SubscriberAccounts may subscribe, nothing else", topic.logical_id);
    }
}
