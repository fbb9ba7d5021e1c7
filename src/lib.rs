//! The UniFFI core of the duroxide Python SDK.
//!
//! `udl/duroxide.udl` is the contract; each module below implements one part of it.
//! See `docs/architecture.md` for how an orchestration step travels through them.

mod activity;
mod admin_records;
mod client;
mod client_admin;
mod combinators;
mod driver;
mod error;
mod executor;
mod foreign;
mod generator;
mod local_runtimes;
mod logging;
mod nondeterminism;
mod options;
mod orchestration_context;
mod outcome;
mod provider;
mod replay_cache;
mod runtime;
mod store;
mod store_events;
mod tasks;
mod trace;

pub use activity::{ActivityCompletion, ActivityContext, ActivityInfo, ActivityOutcome};
pub use admin_records::{
    DeleteInstanceResult, ExecutionInfo, HistoryEvent, InstanceFilter, InstanceInfo, InstanceTree,
    OrchestrationStats, PruneOptions, PruneResult, QueueDepths, SystemMetrics,
};
pub use client::{Client, OrchestrationState};
pub use error::DuroxideError;
pub use foreign::{ActivityInvoker, OrchestrationStepper};
pub use logging::{init_tracing, reset_tracing, route_tracing, LogSink};
pub use options::RuntimeConfig;
pub use orchestration_context::{OrchestrationContext, OrchestrationInfo};
pub use provider::Provider;
pub use runtime::{OrchestrationRegistration, Runtime};

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
    foreign::mark_exiting();
    executor::shutdown(std::time::Duration::from_millis(timeout_ms));
}
