//! What the store layer learns about turns, shared by every runtime and client of one
//! provider object in this process:
//!
//! - **Waiters**: after a turn of an instance is committed, the in-process waits on that
//!   instance are woken, so `wait_for_*` returns at once instead of at its next poll. A
//!   wait for the end is woken only by a turn that ended an execution: each wake costs a
//!   read of the whole history, and a fan-out of 500 commits 500 turns before its last.
//! - **Turn notes**: whoever ran a turn (the orchestration driver) may leave a [`TurnNote`]
//!   for the instance; the store tells it whether the turn's acknowledgement committed, and
//!   lets it rewrite a failure the turn is about to record. The store does not know what the
//!   note holds (the driver parks a suspended generator in it, which enters the replay cache
//!   only once its turn committed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use duroxide::providers::{ExecutionMetadata, WorkItem};
use duroxide::{ErrorDetails, Event, EventKind};
use tokio::sync::Notify;

/// An orchestration item between its fetch and its acknowledgement.
pub struct Inflight {
    pub instance: String,
    pub fetched_at: std::time::Instant,
    pub history_len: usize,
}

/// What the code that ran a turn wants to hear about its acknowledgement. Dropping the
/// note without `committed` means the turn's work is void (abandoned, superseded).
pub trait TurnNote: Send {
    /// A better message for a failure the turn is about to record, if it has one.
    fn explain_failure(&self, details: &ErrorDetails) -> Option<ErrorDetails>;
    /// The turn's acknowledgement committed; `terminal` when the execution ended.
    fn committed(self: Box<Self>, instance: &str, terminal: bool);
    /// True when the note belongs to `owner` (see [`StoreEvents::forget_turns_of`]).
    fn owned_by(&self, owner: usize) -> bool;
}

#[derive(Default)]
pub struct StoreEvents {
    waiters: Mutex<HashMap<String, Arc<Signals>>>,
    lock_retries: AtomicU64,
    /// Lock token -> the orchestration item being processed.
    inflight: Mutex<HashMap<String, Inflight>>,
    turns: Mutex<HashMap<String, Box<dyn TurnNote>>>,
    /// host:port of a PostgreSQL store, which a slow call probes (see `reachability`).
    address: std::sync::OnceLock<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StoreEvents {
    /// Remembers where the store's server listens (once; PostgreSQL only).
    pub fn set_address(&self, address: String) {
        let _ = self.address.set(address);
    }

    /// host:port of the store's server, for `reachability::guarded`.
    pub fn address(&self) -> Option<&str> {
        self.address.get().map(String::as_str)
    }

    /// Identity of the store: every handle on one provider object shares this value.
    pub fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Registers interest in `instance`; keep the guard while waiting.
    pub fn watch(self: &Arc<Self>, instance: &str) -> Watch {
        let signals = lock(&self.waiters)
            .entry(instance.to_string())
            .or_default()
            .clone();
        Watch {
            events: self.clone(),
            instance: instance.to_string(),
            signals,
        }
    }

    /// A turn of `instance` committed; `ended` when it ended the execution.
    pub fn changed(&self, instance: &str, ended: bool) {
        if let Some(signals) = lock(&self.waiters).get(instance) {
            signals.turn.notify_waiters();
            if ended {
                signals.end.notify_waiters();
            }
        }
    }

    pub fn count_lock_retry(&self) {
        self.lock_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Lock errors retried away since the store was opened (for diagnostics and benchmarks).
    pub fn lock_retries(&self) -> u64 {
        self.lock_retries.load(Ordering::Relaxed)
    }

    // -- turns -------------------------------------------------------------------------------

    pub fn fetched(&self, lock_token: &str, instance: &str, history_len: usize) {
        lock(&self.inflight).insert(
            lock_token.to_string(),
            Inflight {
                instance: instance.to_string(),
                fetched_at: std::time::Instant::now(),
                history_len,
            },
        );
    }

    /// How long the item of `lock_token` has been processed, and its history length.
    pub fn turn_so_far(&self, lock_token: &str) -> Option<(std::time::Duration, usize)> {
        lock(&self.inflight)
            .get(lock_token)
            .map(|i| (i.fetched_at.elapsed(), i.history_len))
    }

    /// Leaves a finished turn's note until its acknowledgement settles.
    pub fn end_turn(&self, instance: String, note: Box<dyn TurnNote>) {
        let previous = lock(&self.turns).insert(instance, note);
        drop(previous); // outside the lock: dropping a note may call foreign code
    }

    /// Takes the note a turn left for `instance` (a turn run outside any store: replay).
    pub fn take_turn(&self, instance: &str) -> Option<Box<dyn TurnNote>> {
        lock(&self.turns).remove(instance)
    }

    /// Forgets a note whose turn never settled (a new turn of the instance began).
    pub fn discard_turn(&self, instance: &str) {
        let stale = lock(&self.turns).remove(instance);
        drop(stale);
    }

    /// Drops the unsettled notes `owner` left (a runtime that stopped).
    pub fn forget_turns_of(&self, owner: usize) {
        let dropped: Vec<Box<dyn TurnNote>> = {
            let mut turns = lock(&self.turns);
            let theirs: Vec<String> = turns
                .iter()
                .filter(|(_, n)| n.owned_by(owner))
                .map(|(k, _)| k.clone())
                .collect();
            theirs.iter().filter_map(|k| turns.remove(k)).collect()
        };
        drop(dropped); // outside the lock: dropping a note may call foreign code
    }

    /// Before an acknowledgement: the instance it is for, with failures explained.
    pub fn before_ack(
        &self,
        lock_token: &str,
        delta: &mut [Event],
        metadata: &mut ExecutionMetadata,
        orchestrator_items: &mut [WorkItem],
    ) -> Option<String> {
        let instance = lock(&self.inflight)
            .get(lock_token)
            .map(|i| i.instance.clone())
            .or_else(|| delta.first().map(|e| e.instance_id.clone()))?;
        for event in delta.iter_mut() {
            let EventKind::OrchestrationFailed { details } = &mut event.kind else {
                continue;
            };
            let explained = lock(&self.turns)
                .get(&instance)
                .and_then(|n| n.explain_failure(details));
            let Some(explained) = explained else { continue };
            for item in orchestrator_items.iter_mut() {
                if let WorkItem::SubOrchFailed { details: d, .. } = item {
                    if d == details {
                        *d = explained.clone();
                    }
                }
            }
            metadata.output = Some(explained.display_message());
            *details = explained;
        }
        Some(instance)
    }

    /// After an acknowledgement. A committed turn settles its note and wakes this
    /// instance's waiters. A failed one keeps its note: the core may retry the
    /// acknowledgement.
    pub fn after_ack(
        &self,
        lock_token: &str,
        instance: Option<&str>,
        committed: bool,
        terminal: bool,
    ) {
        if !committed {
            return;
        }
        lock(&self.inflight).remove(lock_token);
        let Some(instance) = instance else { return };
        let note = lock(&self.turns).remove(instance);
        if let Some(note) = note {
            note.committed(instance, terminal);
        }
        self.changed(instance, terminal);
    }

    /// The item went back to the queue: its turn's work is void.
    pub fn abandoned(&self, lock_token: &str) {
        let item = lock(&self.inflight).remove(lock_token);
        if let Some(item) = item {
            self.discard_turn(&item.instance);
        }
    }
}

/// What the waits on one instance can be woken by.
#[derive(Default)]
struct Signals {
    /// Any committed turn.
    turn: Notify,
    /// A committed turn that ended an execution (completed, failed, continued as new).
    end: Notify,
}

/// Interest in one instance's changes.
pub struct Watch {
    events: Arc<StoreEvents>,
    instance: String,
    signals: Arc<Signals>,
}

impl Watch {
    /// Completes at the instance's next committed turn. Create it before reading the
    /// state it guards and `enable()` it, so a change in between is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.signals.turn.notified()
    }

    /// Like `notified`, but only for a turn that ends an execution.
    pub fn ended(&self) -> tokio::sync::futures::Notified<'_> {
        self.signals.end.notified()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut waiters = lock(&self.events.waiters);
        // The map and this guard hold the last two references: nobody else waits.
        if Arc::strong_count(&self.signals) <= 2 {
            waiters.remove(&self.instance);
        }
    }
}
