//! One idempotent transition of a stored entity, for every flow that has one: load the
//! entity, answer "already applied" for a cause it has seen, let the domain decide,
//! write the new state and the transition's messages (the item's outbox) in one write
//! conditional on the version read, and retry a lost race up to [`ATTEMPTS`] times.
//! Nothing here publishes: the outbox relay ([`crate::messages::relay`]) sends the
//! messages from the table's change stream once the write has committed, so a writer
//! that dies right after its write loses nothing, and a redelivered cause writes nothing
//! and sends nothing. Each saved transition is noted in the entity's timeline
//! ([`crate::store::Stored::record_transition`]): when, by whom or what, its trace, the
//! state before and after, the messages.

use std::future::Future;

use crate::app::Deps;
use crate::error::{Error, Result, StoreError};
use crate::ports::OutboundMessage;
use crate::store::{self, Stored, Versioned};

/// Rounds of read, decide and conditional write before a transition gives up on an
/// entity that keeps changing under it (the caller's redelivery then retries it).
pub const ATTEMPTS: usize = 5;

/// What the domain made of a cause.
#[derive(Debug)]
pub enum Decision {
    /// The entity has seen this cause (or it changes nothing): nothing to write.
    AlreadyApplied,
    /// Save the changed entity with `messages` in its outbox.
    Apply { messages: Vec<OutboundMessage> },
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The cause changed the entity; `T` is the entity as saved.
    Applied(T),
    /// The cause had been applied before; `T` is the entity as found.
    AlreadyApplied(T),
}

/// Applies a cause to the entity `load` reads (an error when there is none), deciding
/// with `decide` on a fresh copy in every round.
pub async fn apply<T, L, F, D>(deps: &Deps, load: L, decide: D) -> Result<Outcome<T>>
where
    T: Stored + Clone,
    L: FnMut() -> F,
    F: Future<Output = Result<Versioned<T>>>,
    D: FnMut(&mut T) -> Result<Decision>,
{
    apply_with(deps, ATTEMPTS, load, decide).await
}

/// As [`apply`], with `attempts` rounds instead of [`ATTEMPTS`]: for an entity whose
/// causes are known to arrive together (the statuses of one order's fulfilment).
pub async fn apply_with<T, L, F, D>(deps: &Deps, attempts: usize, mut load: L, mut decide: D) -> Result<Outcome<T>>
where
    T: Stored + Clone,
    L: FnMut() -> F,
    F: Future<Output = Result<Versioned<T>>>,
    D: FnMut(&mut T) -> Result<Decision>,
{
    for _ in 0..attempts {
        let Versioned { value: mut entity, version } = load().await?;
        let before = entity.clone();
        match decide(&mut entity)? {
            Decision::AlreadyApplied => return Ok(Outcome::AlreadyApplied(entity)),
            Decision::Apply { messages } => {
                entity.record_transition(&before, &store::transition_context(deps.clock.now(), &messages));
                match store::save(deps.store.as_ref(), &entity, version, messages).await {
                    Ok(_) => return Ok(Outcome::Applied(entity)),
                    Err(Error::Store(StoreError::ConditionFailed)) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(still_changing(attempts))
}

/// For a transition that writes several items in one transaction (a refund with its
/// order's refund ledger), which [`apply`]'s one entity cannot express: runs `round` —
/// read, decide, write conditionally — again while its write loses a race
/// ([`StoreError::ConditionFailed`]), up to [`ATTEMPTS`] times; any other outcome is
/// returned as it is.
pub async fn retrying<T, R, F>(mut round: R) -> Result<T>
where
    R: FnMut() -> F,
    F: Future<Output = Result<T>>,
{
    for _ in 0..ATTEMPTS {
        match round().await {
            Err(Error::Store(StoreError::ConditionFailed)) => continue,
            other => return other,
        }
    }
    Err(still_changing(ATTEMPTS))
}

fn still_changing(attempts: usize) -> Error {
    Error::Store(StoreError::Backend(format!("still changing after {attempts} attempts; the cause is retried later")))
}
