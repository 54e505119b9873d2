//! The system's wiring, described once: topics, queues with their dead-letter queues,
//! subscriptions with filter policies, HTTP routes and schedules. The local runtime
//! builds exactly this; `template.yaml` mirrors it and `tests/e2e/topology.rs` fails when
//! the two disagree.

use percent_encoding::percent_decode_str;

/// An SNS topic. `env` is the variable through which a function on AWS learns its ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    pub name: &'static str,
    pub logical_id: &'static str,
    pub env: &'static str,
}

/// An SQS queue feeding one function, with its dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    pub name: &'static str,
    pub logical_id: &'static str,
    pub dlq_logical_id: &'static str,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    pub visibility_timeout_secs: u32,
    pub batch_size: u32,
    /// The function its event source mapping invokes.
    pub consumer: &'static str,
    /// For functions that send to it directly rather than through a topic.
    pub env: &'static str,
}

/// A topic → queue subscription. `filter_policy` is an SNS filter policy over message
/// attributes, as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub topic: &'static str,
    pub queue: &'static str,
    pub filter_policy: Option<&'static str>,
    pub raw_delivery: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway path syntax: `/orders/{order_id}`.
    pub path: &'static str,
    pub function: &'static str,
    /// Every route but the health check requires a bearer token (API Gateway's JWT
    /// authorizer on AWS, the local runtime's own tokens locally).
    pub authorized: bool,
    /// The OAuth scopes of which the token must carry at least one (API Gateway's
    /// `AuthorizationScopes`); empty for an open route.
    pub scopes: &'static [&'static str],
}

/// The OAuth scopes the API's routes ask for ([`Route::scopes`]).
pub mod scope {
    pub const ORDERS_WRITE: &str = "orders.write";
    pub const ORDERS_READ: &str = "orders.read";
    pub const FULFILMENT_REPORT: &str = "fulfilment.report";
    pub const REFUNDS_REQUEST: &str = "refunds.request";
    pub const REFUNDS_REVIEW: &str = "refunds.review";
    /// Risk details (`matched_rules`, `score`) in answers, and any order's timeline.
    pub const OPS_READ: &str = "ops.read";
    /// A docking person's: a team's audit exceptions, and a re-audit on request.
    pub const EXCEPTIONS_HANDLE: &str = "exceptions.handle";
    /// Every scope, for a token that may do anything.
    pub const ALL: [&str; 7] =
        [ORDERS_WRITE, ORDERS_READ, FULFILMENT_REPORT, REFUNDS_REQUEST, REFUNDS_REVIEW, OPS_READ, EXCEPTIONS_HANDLE];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub name: &'static str,
    pub expression: &'static str,
    pub function: &'static str,
}

/// The table's change stream (`NEW_AND_OLD_IMAGES`) feeding the outbox relay through a
/// Lambda event source mapping: batches in stream order, a failed record reported
/// (`ReportBatchItemFailures`) and retried from there on, the batch bisected on a
/// function error, and what still fails after `maximum_retry_attempts` sent to the
/// failure queue (the mapping's on-failure destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMapping {
    pub function: &'static str,
    /// The mapping's logical id in `template.yaml` (the function's event name).
    pub event_logical_id: &'static str,
    pub batch_size: u32,
    pub maximum_retry_attempts: u32,
    pub bisect_batch_on_function_error: bool,
    pub failure_queue: FailureQueue,
}

/// A queue no function consumes, where failures wait for a person: records the relay
/// gave up on, and records it could not read, each with its reason. An alarm fires
/// when anything arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureQueue {
    pub name: &'static str,
    pub logical_id: &'static str,
    pub alarm_logical_id: &'static str,
    /// The variable through which the relay learns its URL.
    pub env: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    pub logical_id: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Topology {
    pub table_env: &'static str,
    pub functions: &'static [Function],
    pub topics: &'static [Topic],
    pub queues: &'static [Queue],
    pub subscriptions: &'static [Subscription],
    pub routes: &'static [Route],
    pub schedules: &'static [Schedule],
    pub stream: StreamMapping,
}

pub const RISK_CHECK: &str = "risk-check";
pub const AUDIT_FAILURE: &str = "audit-failure";
pub const NOTIFIER: &str = "notifier";
pub const SCHEDULED_RETRY: &str = "scheduled-retry";
pub const FULFILMENT_DISPATCHER: &str = "fulfilment-dispatcher";
pub const FULFILMENT_STATUS: &str = "fulfilment-status";
pub const REFUND_CALCULATOR: &str = "refund-calculator";
pub const OUTBOX_RELAY: &str = "outbox-relay";
pub const OUTBOX_RELAY_FAILURES: &str = "outbox-relay-failures";

/// How long a dead-letter queue keeps a message (SQS's longest, 14 days), and so how
/// long the reason it was dead-lettered for is kept.
pub const DEAD_LETTER_RETENTION_SECS: i64 = 1_209_600;

pub const AUDIT_RESULTS_QUEUE: &str = "audit-results-queue";
pub const NOTIFICATIONS_QUEUE: &str = "notifications-queue";
pub const FULFILMENT_ORDERS_QUEUE: &str = "fulfilment-orders-queue";
pub const FULFILMENT_STATUS_QUEUE: &str = "fulfilment-status-queue";

pub const AUDIT_RESULTS: &str = "audit-results";
/// The schedule of the re-audits.
pub const REAUDIT_TICK: &str = "reaudit-tick";
pub const AUDIT_REQUESTS: &str = "audit-requests";
pub const ORDER_EVENTS: &str = "order-events";
pub const HANDLER_NOTIFICATIONS: &str = "handler-notifications";
pub const FULFILMENT_COMMANDS: &str = "fulfilment-commands";

pub const TOPOLOGY: Topology = Topology {
    table_env: "TABLE_NAME",
    functions: &[
        Function { name: RISK_CHECK, logical_id: "RiskCheckFunction" },
        Function { name: AUDIT_FAILURE, logical_id: "AuditFailureFunction" },
        Function { name: NOTIFIER, logical_id: "NotifierFunction" },
        Function { name: SCHEDULED_RETRY, logical_id: "ScheduledRetryFunction" },
        Function { name: FULFILMENT_DISPATCHER, logical_id: "FulfilmentDispatcherFunction" },
        Function { name: FULFILMENT_STATUS, logical_id: "FulfilmentStatusFunction" },
        Function { name: REFUND_CALCULATOR, logical_id: "RefundCalculatorFunction" },
        Function { name: OUTBOX_RELAY, logical_id: "OutboxRelayFunction" },
    ],
    topics: &[
        Topic { name: AUDIT_RESULTS, logical_id: "AuditResultsTopic", env: "AUDIT_RESULTS_TOPIC_ARN" },
        Topic { name: AUDIT_REQUESTS, logical_id: "AuditRequestsTopic", env: "AUDIT_REQUESTS_TOPIC_ARN" },
        Topic { name: ORDER_EVENTS, logical_id: "OrderEventsTopic", env: "ORDER_EVENTS_TOPIC_ARN" },
        Topic {
            name: HANDLER_NOTIFICATIONS,
            logical_id: "HandlerNotificationsTopic",
            env: "HANDLER_NOTIFICATIONS_TOPIC_ARN",
        },
        Topic {
            name: FULFILMENT_COMMANDS,
            logical_id: "FulfilmentCommandsTopic",
            env: "FULFILMENT_COMMANDS_TOPIC_ARN",
        },
    ],
    // Visibility timeouts are 6 × the consumer's 10 s timeout, as AWS advises for
    // event source mappings.
    queues: &[
        Queue {
            name: AUDIT_RESULTS_QUEUE,
            logical_id: "AuditResultsQueue",
            dlq_logical_id: "AuditResultsDeadLetterQueue",
            max_receive_count: 5,
            visibility_timeout_secs: 60,
            batch_size: 10,
            consumer: AUDIT_FAILURE,
            env: "AUDIT_RESULTS_QUEUE_URL",
        },
        Queue {
            name: NOTIFICATIONS_QUEUE,
            logical_id: "NotificationsQueue",
            dlq_logical_id: "NotificationsDeadLetterQueue",
            max_receive_count: 5,
            visibility_timeout_secs: 60,
            batch_size: 10,
            consumer: NOTIFIER,
            env: "NOTIFICATIONS_QUEUE_URL",
        },
        Queue {
            name: FULFILMENT_ORDERS_QUEUE,
            logical_id: "FulfilmentOrdersQueue",
            dlq_logical_id: "FulfilmentOrdersDeadLetterQueue",
            max_receive_count: 5,
            visibility_timeout_secs: 60,
            batch_size: 10,
            consumer: FULFILMENT_DISPATCHER,
            env: "FULFILMENT_ORDERS_QUEUE_URL",
        },
        Queue {
            name: FULFILMENT_STATUS_QUEUE,
            logical_id: "FulfilmentStatusQueue",
            dlq_logical_id: "FulfilmentStatusDeadLetterQueue",
            max_receive_count: 5,
            visibility_timeout_secs: 60,
            batch_size: 10,
            consumer: FULFILMENT_DISPATCHER,
            env: "FULFILMENT_STATUS_QUEUE_URL",
        },
    ],
    // No filter on audit results: a message of an unknown type must reach the handler
    // and end in the dead-letter queue where a person sees it, not vanish at SNS.
    subscriptions: &[
        Subscription { topic: AUDIT_RESULTS, queue: AUDIT_RESULTS_QUEUE, filter_policy: None, raw_delivery: false },
        // The dispatcher starts on dispatch and recalls on a final audit rejection; the
        // other order events are not its business.
        Subscription {
            topic: ORDER_EVENTS,
            queue: FULFILMENT_ORDERS_QUEUE,
            filter_policy: Some(r#"{"type":["order.dispatched","order.audit.rejected"]}"#),
            raw_delivery: true,
        },
    ],
    routes: &[
        Route { method: "GET", path: "/health", function: RISK_CHECK, authorized: false, scopes: &[] },
        // The console's static pages (`edge::console`): open, as the sign-in happens in them.
        Route { method: "GET", path: "/console", function: RISK_CHECK, authorized: false, scopes: &[] },
        Route { method: "GET", path: "/console/{file}", function: RISK_CHECK, authorized: false, scopes: &[] },
        Route {
            method: "POST",
            path: "/orders",
            function: RISK_CHECK,
            authorized: true,
            scopes: &[scope::ORDERS_WRITE],
        },
        Route {
            method: "GET",
            path: "/orders/{order_id}",
            function: RISK_CHECK,
            authorized: true,
            scopes: &[scope::ORDERS_READ],
        },
        Route {
            method: "GET",
            path: "/orders/{order_id}/timeline",
            function: RISK_CHECK,
            authorized: true,
            scopes: &[scope::ORDERS_READ, scope::OPS_READ],
        },
        Route {
            method: "POST",
            path: "/orders/{order_id}/prepayment",
            function: RISK_CHECK,
            authorized: true,
            scopes: &[scope::ORDERS_WRITE],
        },
        Route {
            method: "GET",
            path: "/exceptions",
            function: RISK_CHECK,
            authorized: true,
            scopes: &[scope::EXCEPTIONS_HANDLE],
        },
        Route {
            method: "POST",
            path: "/orders/{order_id}/reaudit",
            function: RISK_CHECK,
            authorized: true,
            scopes: &[scope::EXCEPTIONS_HANDLE],
        },
        Route {
            method: "POST",
            path: "/fulfilment/status",
            function: FULFILMENT_STATUS,
            authorized: true,
            scopes: &[scope::FULFILMENT_REPORT],
        },
        Route {
            method: "POST",
            path: "/refunds",
            function: REFUND_CALCULATOR,
            authorized: true,
            scopes: &[scope::REFUNDS_REQUEST],
        },
        Route {
            method: "GET",
            path: "/refunds",
            function: REFUND_CALCULATOR,
            authorized: true,
            scopes: &[scope::REFUNDS_REVIEW],
        },
        Route {
            method: "GET",
            path: "/refunds/{refund_id}",
            function: REFUND_CALCULATOR,
            authorized: true,
            scopes: &[scope::REFUNDS_REQUEST, scope::REFUNDS_REVIEW],
        },
        Route {
            method: "POST",
            path: "/refunds/{refund_id}/review",
            function: REFUND_CALCULATOR,
            authorized: true,
            scopes: &[scope::REFUNDS_REVIEW],
        },
    ],
    schedules: &[Schedule { name: REAUDIT_TICK, expression: "rate(1 minute)", function: SCHEDULED_RETRY }],
    stream: StreamMapping {
        function: OUTBOX_RELAY,
        event_logical_id: "TableStream",
        batch_size: 100,
        maximum_retry_attempts: 5,
        bisect_batch_on_function_error: true,
        failure_queue: FailureQueue {
            name: OUTBOX_RELAY_FAILURES,
            logical_id: "OutboxRelayFailureQueue",
            alarm_logical_id: "OutboxRelayFailureAlarm",
            env: "OUTBOX_RELAY_FAILURE_QUEUE_URL",
        },
    },
};

impl Topology {
    pub fn topic(&self, name: &str) -> Option<&'static Topic> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn queue(&self, name: &str) -> Option<&'static Queue> {
        self.queues.iter().find(|q| q.name == name)
    }

    /// The dead-letter queue's name for a queue: `<name>-dlq`.
    pub fn dlq_name(queue: &str) -> String {
        format!("{queue}-dlq")
    }

    /// Finds the route a request matches, with its path parameters.
    pub fn route(&self, method: &str, path: &str) -> RouteMatch {
        let mut allowed = Vec::new();
        for route in self.routes {
            if let Some(params) = match_path(route.path, path) {
                if route.method.eq_ignore_ascii_case(method) {
                    return RouteMatch::Found(route, params);
                }
                allowed.push(route.method);
            }
        }
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            RouteMatch::MethodNotAllowed(allowed)
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    Found(&'static Route, Vec<(&'static str, String)>),
    /// The path exists with other methods: these (for the `Allow` header).
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

fn match_path(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    let mut params = Vec::new();
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    // Path parameters arrive percent-encoded (`o%3A1` is `o:1`); one that
                    // does not decode to UTF-8 is passed on as sent and fails its check.
                    let value = percent_decode_str(s).decode_utf8().map_or_else(|_| s.to_string(), |v| v.into_owned());
                    params.push((name, value));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_path_parameters() {
        match TOPOLOGY.route("POST", "/orders/o-1/prepayment") {
            RouteMatch::Found(route, params) => {
                assert_eq!(route.path, "/orders/{order_id}/prepayment");
                assert_eq!(params, vec![("order_id", "o-1".to_string())]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert_eq!(TOPOLOGY.route("GET", "/nope"), RouteMatch::NotFound);
        assert_eq!(TOPOLOGY.route("DELETE", "/orders"), RouteMatch::MethodNotAllowed(vec!["POST"]));
        assert_eq!(TOPOLOGY.route("GET", "/orders/"), RouteMatch::MethodNotAllowed(vec!["POST"]));
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        match TOPOLOGY.route("GET", "/orders/o%3A1") {
            RouteMatch::Found(_, params) => assert_eq!(params, vec![("order_id", "o:1".to_string())]),
            other => panic!("unexpected {other:?}"),
        }
        match TOPOLOGY.route("GET", "/orders/a%2Fb") {
            RouteMatch::Found(_, params) => assert_eq!(params, vec![("order_id", "a/b".to_string())]),
            other => panic!("unexpected {other:?}"),
        }
    }
}
