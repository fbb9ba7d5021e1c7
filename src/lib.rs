//! The UniFFI core of the duroxide Python SDK.
//!
//! `udl/duroxide.udl` is the contract; each module below implements one part of it.
//! See `docs/architecture.md` for how an orchestration step travels through them.

// The map. Each folder is one concern of `udl/duroxide.udl`. Imports only go down this
// list (each part uses only parts below it), so there is no circle:
//
//   runtime        ─ starts the core with the two handlers below
//   replay         ─ replays exported histories offline (client exports them)
//   orchestration  ─ the generator driver          activity ─ the activity handler
//                                                  client   ─ what activity contexts hand out
//   store          ─ providers and the shared wrapper, knowing nothing above it
//   ffi            ─ errors, tokio, the interpreter switch, logs
//
// - `ffi/`: what crosses the boundary: the error type, the shared tokio runtime, the
//   interpreter-alive switch, log routing.
// - `store/`: the providers (SQLite, PostgreSQL), the wrapper every runtime and client of
//   one provider shares (lock-error retries, SQLite writer turns, coalescing), what it
//   learns about turns (commit notices, waiters) and which runtimes here use it. It
//   knows nothing of generators.
// - `client/`: client calls and waits, the admin API and its records.
// - `orchestration/`: the generator driver and everything a turn needs: tasks, durable
//   futures, combinators, outcomes, the context object, traces, the replay cache.
// - `activity`: the handler the core calls, the activity context, the invoker callback.
// - `runtime/`: `Runtime` (registries, start, shutdown) and its options.
// - `replay/`: the history export format and the offline replayer (the core's replay
//   engine driving today's code over a recorded history; nothing runs, nothing is written).

mod activity;
mod client;
mod ffi;
mod orchestration;
mod replay;
mod runtime;
mod store;

pub use activity::{
    ActivityCompletion, ActivityContext, ActivityInfo, ActivityInvoker, ActivityOutcome,
    CancelListener,
};
pub use client::records::{
    DeleteInstanceResult, ExecutionInfo, HistoryEvent, InstanceFilter, InstanceInfo, InstanceTree,
    OrchestrationStats, PruneOptions, PruneResult, QueueDepths, SystemMetrics,
};
pub use client::{AsyncClient, Client, OrchestrationState};
pub use ffi::error::DuroxideError;
pub use ffi::logging::{init_tracing, reset_tracing, route_tracing, LogSink};
pub use orchestration::context::{OrchestrationContext, OrchestrationInfo};
pub use orchestration::generator::OrchestrationStepper;
pub use replay::{ReplayReport, ReplayStatus, Replayer};
pub use runtime::options::{DeterminismChecks, RuntimeConfig};
pub use runtime::{OrchestrationRegistration, Runtime};
pub use store::credentials::CredentialSource;
pub use store::providers::{Provider, VirtualClock};

uniffi::include_scaffolding!("duroxide");

/// The duroxide core version this library links.
pub fn core_version() -> String {
    "0.1.32".to_string()
}

/// The core's hard limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_kv_keys: u64,
    pub max_kv_value_bytes: u64,
    pub max_worker_tags: u64,
    pub max_tag_name_bytes: u64,
    pub max_custom_status_bytes: u64,
    pub max_carry_forward_events: u64,
}

pub fn limits() -> Limits {
    use duroxide::runtime::limits as l;
    Limits {
        max_kv_keys: l::MAX_KV_KEYS as u64,
        max_kv_value_bytes: l::MAX_KV_VALUE_BYTES as u64,
        max_worker_tags: l::MAX_WORKER_TAGS as u64,
        max_tag_name_bytes: l::MAX_TAG_NAME_BYTES as u64,
        max_custom_status_bytes: l::MAX_CUSTOM_STATUS_BYTES as u64,
        max_carry_forward_events: l::MAX_CARRY_FORWARD_EVENTS as u64,
    }
}

/// Stops every runtime, refuses further callbacks into the exiting foreign interpreter,
/// and stops the shared tokio runtime so no Rust thread runs during the process's exit.
pub fn shutdown_all(timeout_ms: u64) {
    runtime::shutdown_all(timeout_ms);
    ffi::interpreter::mark_exiting();
    ffi::executor::shutdown(std::time::Duration::from_millis(timeout_ms));
}
