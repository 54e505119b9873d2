//! End-to-end scenarios.

mod topology;
