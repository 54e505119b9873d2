//! End-to-end scenarios. Each runs on the embedded backend and on the aws backend
//! against a moto_server the harness starts (see `support`).

mod audit_chain;
mod auth;
mod dead_letters;
mod faults;
mod fulfilment;
mod hostile;
mod local;
mod openapi;
mod outbox;
mod refunds;
mod restart;
mod risk_check;
mod sizes;
mod soak;
mod support;
mod topology;
mod tracing;
mod work_queues;
