//! The client's admin API: metrics, instance listings, history, deletion and pruning.

use std::future::Future;

use crate::client::calls::{within, Call, Calls};
use crate::client::records::{
    DeleteInstanceResult, ExecutionInfo, HistoryEvent, InstanceFilter, InstanceInfo, InstanceTree,
    OrchestrationStats, PruneOptions, PruneResult, QueueDepths, SystemMetrics,
};
use crate::ffi::error::{DuroxideError, Result};
use crate::replay::format::{self, ExecutionExport, HistoryExport};

const STATUSES: [&str; 4] = ["Running", "Completed", "Failed", "ContinuedAsNew"];

impl Calls {
    /// One call of the core client.
    fn admin<T, F, Fut>(&self, call: F) -> Result<Call<T>>
    where
        F: FnOnce(duroxide::Client) -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, duroxide::ClientError>> + Send + 'static,
        T: Send + 'static,
    {
        let core = self.core()?;
        within(
            &self.events,
            "an admin call",
            async move { call(core).await },
        )
    }

    pub fn get_system_metrics(&self) -> Result<Call<SystemMetrics>> {
        self.admin(|c| async move { c.get_system_metrics().await.map(Into::into) })
    }

    pub fn get_queue_depths(&self) -> Result<Call<QueueDepths>> {
        self.admin(|c| async move { c.get_queue_depths().await.map(Into::into) })
    }

    pub fn list_all_instances(&self) -> Result<Call<Vec<String>>> {
        self.admin(|c| async move { c.list_all_instances().await })
    }

    pub fn list_instances_by_status(&self, status: String) -> Result<Call<Vec<String>>> {
        if !STATUSES.contains(&status.as_str()) {
            return Err(DuroxideError::invalid(format!(
                "unknown status {status:?}; use one of {}",
                STATUSES.join(", ")
            )));
        }
        self.admin(|c| async move { c.list_instances_by_status(&status).await })
    }

    pub fn get_instance_info(&self, instance_id: String) -> Result<Call<InstanceInfo>> {
        self.admin(|c| async move { c.get_instance_info(&instance_id).await.map(Into::into) })
    }

    pub fn get_execution_info(
        &self,
        instance_id: String,
        execution_id: u64,
    ) -> Result<Call<ExecutionInfo>> {
        self.admin(move |c| async move {
            c.get_execution_info(&instance_id, execution_id)
                .await
                .map(Into::into)
        })
    }

    pub fn get_instance_tree(&self, instance_id: String) -> Result<Call<InstanceTree>> {
        self.admin(|c| async move { c.get_instance_tree(&instance_id).await.map(Into::into) })
    }

    /// Every execution of the instance, as the history export format (JSON text).
    pub fn export_history(&self, instance_id: String) -> Result<Call<String>> {
        let id = instance_id.clone();
        let read = self.admin(move |c| async move {
            let info = c.get_instance_info(&id).await?;
            let mut executions = Vec::new();
            for execution_id in c.list_executions(&id).await? {
                let events = c.read_execution_history(&id, execution_id).await?;
                executions.push(ExecutionExport {
                    execution_id,
                    events,
                });
            }
            Ok((info, executions))
        })?;
        Ok(Box::pin(async move {
            let (info, executions) = read.await?;
            HistoryExport {
                format: format::FORMAT.into(),
                format_version: format::FORMAT_VERSION,
                core_version: crate::core_version(),
                instance_id,
                orchestration_name: info.orchestration_name,
                orchestration_version: info.orchestration_version,
                status: info.status,
                executions,
            }
            .to_json()
        }))
    }

    pub fn list_executions(&self, instance_id: String) -> Result<Call<Vec<u64>>> {
        self.admin(|c| async move { c.list_executions(&instance_id).await })
    }

    pub fn read_execution_history(
        &self,
        instance_id: String,
        execution_id: u64,
    ) -> Result<Call<Vec<HistoryEvent>>> {
        self.admin(move |c| async move {
            c.read_execution_history(&instance_id, execution_id)
                .await
                .map(|events| events.into_iter().map(Into::into).collect())
        })
    }

    pub fn get_orchestration_stats(
        &self,
        instance_id: String,
    ) -> Result<Call<Option<OrchestrationStats>>> {
        self.admin(|c| async move {
            c.get_orchestration_stats(&instance_id)
                .await
                .map(|s| s.map(Into::into))
        })
    }

    pub fn delete_instance(
        &self,
        instance_id: String,
        force: bool,
    ) -> Result<Call<DeleteInstanceResult>> {
        self.admin(
            move |c| async move { c.delete_instance(&instance_id, force).await.map(Into::into) },
        )
    }

    pub fn delete_instance_bulk(
        &self,
        filter: InstanceFilter,
    ) -> Result<Call<DeleteInstanceResult>> {
        self.admin(|c| async move { c.delete_instance_bulk(filter.into()).await.map(Into::into) })
    }

    pub fn prune_executions(
        &self,
        instance_id: String,
        options: PruneOptions,
    ) -> Result<Call<PruneResult>> {
        self.admin(|c| async move {
            c.prune_executions(&instance_id, options.into())
                .await
                .map(Into::into)
        })
    }

    pub fn prune_executions_bulk(
        &self,
        filter: InstanceFilter,
        options: PruneOptions,
    ) -> Result<Call<PruneResult>> {
        self.admin(|c| async move {
            c.prune_executions_bulk(filter.into(), options.into())
                .await
                .map(Into::into)
        })
    }
}
