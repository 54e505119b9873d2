//! In-process adapters.
