//! `Client`: starts instances, raises events, reads and waits for their state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use duroxide::OrchestrationStatus;

use crate::error::{DuroxideError, Result};
use crate::provider::Provider;
use crate::{executor, local_runtimes};

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
    fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed")
    }
}

pub struct Client {
    core: duroxide::Client,
    store_id: usize,
    closed: AtomicBool,
}

impl Client {
    pub fn new(provider: Arc<Provider>) -> Self {
        Self::from_core(duroxide::Client::new(provider.core()), provider.store_id())
    }

    pub fn from_core(core: duroxide::Client, store_id: usize) -> Self {
        Self {
            core,
            store_id,
            closed: AtomicBool::new(false),
        }
    }

    /// The core client, or `Closed` once `close()` was called.
    fn core(&self) -> Result<duroxide::Client> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DuroxideError::closed(
                "this Client was closed; create a new Client(provider)",
            ));
        }
        Ok(self.core.clone())
    }

    pub fn start_orchestration(
        &self,
        instance_id: String,
        name: String,
        input: String,
        version: Option<String>,
    ) -> Result<()> {
        let core = self.core()?;
        validate_instance_id(&instance_id)?;
        if name.is_empty() {
            return Err(DuroxideError::invalid("orchestration name is empty"));
        }
        if let Err(known) =
            local_runtimes::check_orchestration(self.store_id, &name, version.as_deref())
        {
            let what = match &version {
                Some(v) => format!("{name}@{v}"),
                None => name.clone(),
            };
            return Err(DuroxideError::NotRegistered {
                message: format!(
                    "orchestration '{what}' is not registered with the runtime running on this provider (registered: {known}); register it before starting instances of it"
                ),
            });
        }
        executor::block_on(async move {
            match version {
                Some(v) => {
                    core.start_orchestration_versioned(instance_id, name, v, input)
                        .await
                }
                None => core.start_orchestration(instance_id, name, input).await,
            }
        })
        .map_err(Into::into)
    }

    pub fn get_status(&self, instance_id: String) -> Result<OrchestrationState> {
        let core = self.core()?;
        executor::block_on(async move { core.get_orchestration_status(&instance_id).await })
            .map(Into::into)
            .map_err(Into::into)
    }

    pub fn wait_for_orchestration(
        &self,
        instance_id: String,
        timeout_ms: u64,
    ) -> Result<OrchestrationState> {
        let core = self.core()?;
        let id = instance_id.clone();
        executor::block_on(async move {
            core.wait_for_orchestration(&id, Duration::from_millis(timeout_ms))
                .await
        })
        .map(Into::into)
        .map_err(|e| match e {
            duroxide::ClientError::Timeout => DuroxideError::timeout(format!(
                "instance '{instance_id}' did not finish within {timeout_ms} ms"
            )),
            other => other.into(),
        })
    }

    pub fn wait_for_status_change(
        &self,
        instance_id: String,
        last_seen_version: u64,
        poll_interval_ms: u64,
        timeout_ms: u64,
    ) -> Result<Option<OrchestrationState>> {
        let core = self.core()?;
        let interval = Duration::from_millis(poll_interval_ms.max(1));
        executor::block_on(async move {
            let deadline = Instant::now() + Duration::from_millis(timeout_ms);
            loop {
                let state: OrchestrationState =
                    core.get_orchestration_status(&instance_id).await?.into();
                if state.custom_status_version > last_seen_version {
                    return Ok(Some(state));
                }
                if state.is_terminal() {
                    return Ok(None);
                }
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(interval.min(deadline - now)).await;
            }
        })
    }

    pub fn raise_event(&self, instance_id: String, event_name: String, data: String) -> Result<()> {
        let core = self.core()?;
        executor::block_on(async move { core.raise_event(instance_id, event_name, data).await })
            .map_err(Into::into)
    }

    pub fn enqueue_event(&self, instance_id: String, queue: String, data: String) -> Result<()> {
        let core = self.core()?;
        executor::block_on(async move { core.enqueue_event(instance_id, queue, data).await })
            .map_err(Into::into)
    }

    pub fn cancel_instance(&self, instance_id: String, reason: String) -> Result<()> {
        let core = self.core()?;
        executor::block_on(async move { core.cancel_instance(instance_id, reason).await })
            .map_err(Into::into)
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

fn validate_instance_id(instance_id: &str) -> Result<()> {
    if instance_id.is_empty() {
        return Err(DuroxideError::invalid("instance id is empty"));
    }
    Ok(())
}
