//! In-process adapters with the semantics of the AWS services they stand in for: the
//! default backend of the local runtime and of most tests.
//!
//! - [`store`]: DynamoDB-like table (conditional writes, transactions, index queries).
//! - [`bus`]: SNS-like topics fanning out through filter policies into SQS-like queues
//!   (at-least-once, visibility timeout, redrive to a dead-letter queue).
//! - [`filter`]: SNS filter policy matching.
//! - [`stream`]: the store's change feed as Lambda DynamoDB stream events.
//! - [`faults`]: the seam for injecting duplicates, delays and crashes.
//! - [`fixtures`]: the `events/` fixtures for handler tests.
//! - [`world`]: a whole embedded backend with a manual clock, for tests and benchmarks.

pub mod bus;
pub mod faults;
pub mod filter;
pub mod fixtures;
pub mod store;
pub mod stream;
pub mod world;

pub use crate::adapters::clock::{ManualClock, SequentialIds, SystemClock, UuidIds};
pub use bus::{EmbeddedBus, Published};
pub use faults::{Faults, FaultyStore, NoFaults};
pub use store::{Change, EmbeddedStore};
pub use world::World;
