//! `Client` (blocking) and `AsyncClient` (awaitable): start instances, raise events, read
//! and wait for their state, administer the store. Both run the same `Calls`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::client::calls::Calls;
pub use crate::client::records::OrchestrationState;
use crate::client::records::{
    DeleteInstanceResult, ExecutionInfo, HistoryEvent, InstanceFilter, InstanceInfo, InstanceTree,
    OrchestrationStats, PruneOptions, PruneResult, QueueDepths, SystemMetrics,
};
use crate::ffi::error::Result;
use crate::ffi::executor;
use crate::store::events::StoreEvents;
use crate::store::providers::Provider;

pub mod admin;
pub(crate) mod calls;
pub mod records;

/// The blocking client: every call waits on the calling thread.
pub struct Client {
    calls: Calls,
}

/// The awaitable client: every call is a future the foreign event loop awaits, so
/// waiting holds no thread.
pub struct AsyncClient {
    calls: Calls,
}

impl Client {
    pub fn new(provider: Arc<Provider>) -> Self {
        Self::from_core(duroxide::Client::new(provider.core()), provider.events())
    }

    pub fn from_core(core: duroxide::Client, events: Arc<StoreEvents>) -> Self {
        Self {
            calls: Calls::new(core, events),
        }
    }

    /// Further calls raise `Closed`.
    pub fn shutdown(&self) {
        self.calls.close();
    }
}

impl AsyncClient {
    pub fn new(provider: Arc<Provider>) -> Self {
        Self {
            calls: Calls::new(duroxide::Client::new(provider.core()), provider.events()),
        }
    }

    /// Further calls raise `Closed`.
    pub fn shutdown(&self) {
        self.calls.close();
    }
}

/// Each listed call once as a blocking `Client` method and once as an async
/// `AsyncClient` method; both run the future `Calls` builds on the shared runtime.
macro_rules! client_calls {
    ($( fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty; )*) => {
        impl Client {
            $( pub fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                executor::block_on(self.calls.$name($($arg),*)?)
            } )*
        }
        impl AsyncClient {
            $( pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                executor::run(self.calls.$name($($arg),*)?).await
            } )*
        }
    };
}

client_calls! {
    fn start_orchestration(instance_id: String, name: String, input: String, version: Option<String>) -> ();
    fn get_status(instance_id: String) -> OrchestrationState;
    fn wait_for_orchestration(instance_id: String, timeout_ms: u64) -> OrchestrationState;
    fn wait_for_status_change(instance_id: String, last_seen_version: u64, poll_interval_ms: u64, timeout_ms: u64) -> Option<OrchestrationState>;
    fn raise_event(instance_id: String, event_name: String, data: String) -> ();
    fn enqueue_event(instance_id: String, queue: String, data: String) -> ();
    fn cancel_instance(instance_id: String, reason: String) -> ();
    fn get_kv_value(instance_id: String, key: String) -> Option<String>;
    fn get_kv_all_values(instance_id: String) -> HashMap<String, String>;
    fn wait_for_kv_value(instance_id: String, key: String, timeout_ms: u64) -> String;
    fn get_system_metrics() -> SystemMetrics;
    fn get_queue_depths() -> QueueDepths;
    fn list_all_instances() -> Vec<String>;
    fn list_instances_by_status(status: String) -> Vec<String>;
    fn get_instance_info(instance_id: String) -> InstanceInfo;
    fn get_execution_info(instance_id: String, execution_id: u64) -> ExecutionInfo;
    fn get_instance_tree(instance_id: String) -> InstanceTree;
    fn list_executions(instance_id: String) -> Vec<u64>;
    fn read_execution_history(instance_id: String, execution_id: u64) -> Vec<HistoryEvent>;
    fn export_history(instance_id: String) -> String;
    fn get_orchestration_stats(instance_id: String) -> Option<OrchestrationStats>;
    fn delete_instance(instance_id: String, force: bool) -> DeleteInstanceResult;
    fn delete_instance_bulk(filter: InstanceFilter) -> DeleteInstanceResult;
    fn prune_executions(instance_id: String, options: PruneOptions) -> PruneResult;
    fn prune_executions_bulk(filter: InstanceFilter, options: PruneOptions) -> PruneResult;
}
