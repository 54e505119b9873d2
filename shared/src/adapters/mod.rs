//! Adapters: the ports implemented on real services and in process.
//!
//! - [`clock`]: system and manual clocks; id generators.
//! - [`aws`]: on the `aws-sdk-*` crates (features `dynamodb`, `sqs`, `sns`, `streams`), and
//!   the cold start that wires a Lambda function; the moto_server harness and the
//!   provisioning of the topology on it for tests and the local runtime (feature `moto`).
//! - [`embedded`]: in process, with DynamoDB/SQS/SNS semantics: the local runtime's
//!   default backend and the tests' (feature `embedded`), with the tests' `World` and
//!   `events/` fixtures.
//!
//! No Lambda function enables `embedded`, `streams` or `moto` outside its
//! `[dev-dependencies]`.

pub mod clock;

#[cfg(any(feature = "dynamodb", feature = "sqs", feature = "sns"))]
pub mod aws;

#[cfg(feature = "embedded")]
pub mod embedded;

#[cfg(feature = "durable")]
pub mod durable;
