//! The records clients return (`udl/duroxide.udl`): instance state and the admin API,
//! and their conversions from the core.

use duroxide::providers::management as core;
use duroxide::OrchestrationStatus;
use duroxide::{Event, SystemStats};

#[derive(Debug, Clone)]
pub struct SystemMetrics {
    pub total_instances: u64,
    pub total_executions: u64,
    pub running_instances: u64,
    pub completed_instances: u64,
    pub failed_instances: u64,
    pub total_events: u64,
}

impl From<core::SystemMetrics> for SystemMetrics {
    fn from(m: core::SystemMetrics) -> Self {
        Self {
            total_instances: m.total_instances,
            total_executions: m.total_executions,
            running_instances: m.running_instances,
            completed_instances: m.completed_instances,
            failed_instances: m.failed_instances,
            total_events: m.total_events,
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueueDepths {
    pub orchestrator_queue: u64,
    pub worker_queue: u64,
    pub timer_queue: u64,
}

impl From<core::QueueDepths> for QueueDepths {
    fn from(d: core::QueueDepths) -> Self {
        Self {
            orchestrator_queue: d.orchestrator_queue as u64,
            worker_queue: d.worker_queue as u64,
            timer_queue: d.timer_queue as u64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct InstanceInfo {
    pub instance_id: String,
    pub orchestration_name: String,
    pub orchestration_version: String,
    pub current_execution_id: u64,
    pub status: String,
    pub output: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    pub parent_instance_id: Option<String>,
}

impl From<core::InstanceInfo> for InstanceInfo {
    fn from(i: core::InstanceInfo) -> Self {
        Self {
            instance_id: i.instance_id,
            orchestration_name: i.orchestration_name,
            orchestration_version: i.orchestration_version,
            current_execution_id: i.current_execution_id,
            status: i.status,
            output: i.output,
            created_at: i.created_at,
            updated_at: i.updated_at,
            parent_instance_id: i.parent_instance_id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    pub execution_id: u64,
    pub status: String,
    pub output: Option<String>,
    pub started_at: u64,
    pub completed_at: Option<u64>,
    pub event_count: u64,
}

impl From<core::ExecutionInfo> for ExecutionInfo {
    fn from(e: core::ExecutionInfo) -> Self {
        Self {
            execution_id: e.execution_id,
            status: e.status,
            output: e.output,
            started_at: e.started_at,
            completed_at: e.completed_at,
            event_count: e.event_count as u64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct InstanceTree {
    pub root_id: String,
    pub all_ids: Vec<String>,
}

impl From<core::InstanceTree> for InstanceTree {
    fn from(t: core::InstanceTree) -> Self {
        Self {
            root_id: t.root_id,
            all_ids: t.all_ids,
        }
    }
}

/// One history event: its kind (the core's event name) and its fields as JSON text, with
/// the payloads in them (inputs, results, event data) decoded: `{"name": .., "input": 7}`,
/// not `{"input": "7"}`. A completion's data is its result itself.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub event_id: u64,
    pub source_event_id: Option<u64>,
    pub execution_id: u64,
    pub timestamp_ms: u64,
    pub kind: String,
    pub data: String,
}

impl From<Event> for HistoryEvent {
    fn from(e: Event) -> Self {
        let mut data = serde_json::to_value(&e.kind).unwrap_or(serde_json::Value::Null);
        let tag = match &mut data {
            serde_json::Value::Object(fields) => fields.remove("type"),
            _ => None,
        };
        let tag = tag
            .and_then(|t| t.as_str().map(str::to_string))
            .unwrap_or_default();
        let data = readable(&tag, data);
        Self {
            event_id: e.event_id,
            source_event_id: e.source_event_id,
            execution_id: e.execution_id,
            timestamp_ms: e.timestamp_ms,
            kind: rust_name(&tag).to_string(),
            data: data.to_string(),
        }
    }
}

/// Fields that carry a payload: JSON text the SDK wrote, stored as a string.
const PAYLOAD_FIELDS: [&str; 4] = ["input", "result", "output", "data"];

/// `data` with its payload fields decoded (a payload that is not JSON, such as a typed
/// string sent raw, stays a string); a completion becomes its result itself.
fn readable(tag: &str, mut data: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(fields) = &mut data {
        for name in PAYLOAD_FIELDS {
            if let Some(serde_json::Value::String(text)) = fields.get(name) {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
                    fields.insert(name.to_string(), value);
                }
            }
        }
        if matches!(tag, "ActivityCompleted" | "SubOrchestrationCompleted") {
            if let Some(result) = fields.remove("result") {
                return result;
            }
        }
    }
    data
}

/// The event's Rust name where its serialised tag kept an older one.
fn rust_name(tag: &str) -> &str {
    match tag {
        "ExternalSubscribedPersistent" => "QueueSubscribed",
        "ExternalEventPersistent" => "QueueEventDelivered",
        "ExternalSubscribedPersistentCancelled" => "QueueSubscriptionCancelled",
        other => other,
    }
}

#[derive(Debug, Clone)]
pub struct OrchestrationStats {
    pub history_event_count: u64,
    pub history_size_bytes: u64,
    pub queue_pending_count: u64,
    pub kv_user_key_count: u64,
    pub kv_total_value_bytes: u64,
}

impl From<SystemStats> for OrchestrationStats {
    fn from(s: SystemStats) -> Self {
        Self {
            history_event_count: s.history_event_count,
            history_size_bytes: s.history_size_bytes,
            queue_pending_count: s.queue_pending_count,
            kv_user_key_count: s.kv_user_key_count,
            kv_total_value_bytes: s.kv_total_value_bytes,
        }
    }
}

#[derive(Debug, Clone)]
pub struct InstanceFilter {
    pub instance_ids: Option<Vec<String>>,
    pub completed_before: Option<u64>,
    pub limit: Option<u32>,
}

impl From<InstanceFilter> for core::InstanceFilter {
    fn from(f: InstanceFilter) -> Self {
        Self {
            instance_ids: f.instance_ids,
            completed_before: f.completed_before,
            limit: f.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub keep_last: Option<u32>,
    pub completed_before: Option<u64>,
}

impl From<PruneOptions> for core::PruneOptions {
    fn from(o: PruneOptions) -> Self {
        Self {
            keep_last: o.keep_last,
            completed_before: o.completed_before,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeleteInstanceResult {
    pub instances_deleted: u64,
    pub executions_deleted: u64,
    pub events_deleted: u64,
    pub queue_messages_deleted: u64,
}

impl From<core::DeleteInstanceResult> for DeleteInstanceResult {
    fn from(r: core::DeleteInstanceResult) -> Self {
        Self {
            instances_deleted: r.instances_deleted,
            executions_deleted: r.executions_deleted,
            events_deleted: r.events_deleted,
            queue_messages_deleted: r.queue_messages_deleted,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PruneResult {
    pub instances_processed: u64,
    pub executions_deleted: u64,
    pub events_deleted: u64,
}

impl From<core::PruneResult> for PruneResult {
    fn from(r: core::PruneResult) -> Self {
        Self {
            instances_processed: r.instances_processed,
            executions_deleted: r.executions_deleted,
            events_deleted: r.events_deleted,
        }
    }
}

/// An instance's state as a client reads it.
#[derive(Debug, Clone)]
pub struct OrchestrationState {
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub custom_status: Option<String>,
    pub custom_status_version: u64,
}

impl From<OrchestrationStatus> for OrchestrationState {
    fn from(status: OrchestrationStatus) -> Self {
        let state = |status: &str, output, error, custom_status, custom_status_version| Self {
            status: status.to_string(),
            output,
            error,
            custom_status,
            custom_status_version,
        };
        match status {
            OrchestrationStatus::NotFound => state("NotFound", None, None, None, 0),
            OrchestrationStatus::Running {
                custom_status,
                custom_status_version,
            } => state("Running", None, None, custom_status, custom_status_version),
            OrchestrationStatus::Completed {
                output,
                custom_status,
                custom_status_version,
            } => state(
                "Completed",
                Some(output),
                None,
                custom_status,
                custom_status_version,
            ),
            OrchestrationStatus::Failed {
                details,
                custom_status,
                custom_status_version,
            } => state(
                "Failed",
                None,
                Some(details.display_message()),
                custom_status,
                custom_status_version,
            ),
        }
    }
}

impl OrchestrationState {
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed")
    }
}
