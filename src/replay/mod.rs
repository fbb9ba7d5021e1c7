//! The offline replayer: an exported history replayed against today's orchestration code
//! by the core's own replay engine, with the generator driver as its handler. Nothing
//! runs (activities, timers and sub-orchestrations are answered from history) and
//! nothing is written anywhere: the check a team runs before deploying a change.

pub mod format;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use duroxide::runtime::replay_engine::{ReplayEngine, TurnResult};
use duroxide::runtime::OrchestrationHandler;
use duroxide::{ConfigErrorKind, ErrorDetails, Event, EventKind, OrchestrationContext as CoreCtx};

use crate::ffi::error::Result;
use crate::orchestration::driver::{DriverEnv, DriverStats, OrchestrationDriver};
use crate::orchestration::generator::OrchestrationStepper;
use crate::orchestration::replay_cache::ReplayCache;
use crate::orchestration::schedule::Known;
use crate::orchestration::verify::DeterminismChecks;
use crate::runtime::OrchestrationRegistration;
use crate::store::events::StoreEvents;
use format::HistoryExport;

/// A registration under this version replays every version of its name.
const ANY_VERSION: &str = "*";

/// How one instance's replay went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStatus {
    /// Every execution replayed as recorded.
    Ok,
    /// The code no longer does what the history recorded.
    Diverged,
    /// The history's orchestration (name and version) was not given to the replayer.
    NotRegistered,
}

#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub instance_id: String,
    pub orchestration_name: String,
    pub orchestration_version: String,
    pub executions: u32,
    pub status: ReplayStatus,
    /// What diverged, or what is missing; None when Ok.
    pub message: Option<String>,
}

pub struct Replayer {
    env: Arc<DriverEnv>,
    registered: HashSet<(String, String)>,
}

struct Handler(Arc<DriverEnv>);

#[async_trait]
impl OrchestrationHandler for Handler {
    async fn invoke(&self, ctx: CoreCtx, input: String) -> std::result::Result<String, String> {
        OrchestrationDriver::new(self.0.clone(), ctx, input).await
    }
}

impl Replayer {
    pub fn new(
        stepper: Box<dyn OrchestrationStepper>,
        orchestrations: Vec<OrchestrationRegistration>,
    ) -> Self {
        let env = DriverEnv {
            stepper: Arc::from(stepper),
            known: Known::anything(),
            cache: Arc::new(ReplayCache::new(0)),
            events: Arc::new(StoreEvents::default()),
            stats: DriverStats::default(),
            checks: DeterminismChecks::Off,
            check_stats: Default::default(),
        };
        Self {
            env: Arc::new(env),
            registered: orchestrations
                .into_iter()
                .map(|r| (r.name, r.version))
                .collect(),
        }
    }

    /// Replays one exported instance (`Client.export_history`'s JSON text).
    pub fn replay(&self, history_json: String) -> Result<ReplayReport> {
        let export = HistoryExport::parse(&history_json)?;
        let mut report = ReplayReport {
            instance_id: export.instance_id.clone(),
            orchestration_name: export.orchestration_name.clone(),
            orchestration_version: export.orchestration_version.clone(),
            executions: 0,
            status: ReplayStatus::Ok,
            message: None,
        };
        for execution in &export.executions {
            report.executions += 1;
            if let Err((status, message)) = self.replay_execution(
                &export.instance_id,
                execution.execution_id,
                &execution.events,
            ) {
                report.status = status;
                report.message = Some(format!("execution {}: {message}", execution.execution_id));
                break;
            }
        }
        Ok(report)
    }

    fn replay_execution(
        &self,
        instance: &str,
        execution_id: u64,
        events: &[Event],
    ) -> std::result::Result<(), (ReplayStatus, String)> {
        let malformed = |what: &str| {
            Err((
                ReplayStatus::Diverged,
                format!("the recorded history is malformed: {what}"),
            ))
        };
        let Some(EventKind::OrchestrationStarted {
            name,
            version,
            input,
            ..
        }) = events.first().map(|e| &e.kind)
        else {
            return malformed("it does not begin with OrchestrationStarted");
        };
        let any_version = (name.clone(), ANY_VERSION.to_string());
        if !self.registered.contains(&(name.clone(), version.clone()))
            && !self.registered.contains(&any_version)
        {
            let mut known: Vec<String> = self
                .registered
                .iter()
                .map(|(n, v)| format!("{n}@{v}"))
                .collect();
            known.sort();
            return Err((
                ReplayStatus::NotRegistered,
                format!(
                    "orchestration '{name}@{version}' is not among the replayer's orchestrations (given: {})",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
            ));
        }
        // The engine does not run an execution whose history already ended: replay up to
        // its end and compare the outcome.
        let (baseline, recorded_end) = match events.iter().position(Event::is_terminal) {
            Some(i) => (events[..i].to_vec(), Some(&events[i].kind)),
            None => (events.to_vec(), None),
        };
        let persisted = baseline.len();
        let mut engine = ReplayEngine::new(instance.to_string(), execution_id, baseline)
            .with_persisted_history_len(persisted);
        let handler: Arc<dyn OrchestrationHandler> = Arc::new(Handler(self.env.clone()));
        let result = engine.execute_orchestration(
            handler,
            input.clone(),
            name.clone(),
            version.clone(),
            "duroxide-replayer",
        );
        let note = self.env.events.take_turn(instance);
        let explain = |details: &ErrorDetails| {
            note.as_ref()
                .and_then(|n| n.explain_failure(details))
                .unwrap_or_else(|| details.clone())
                .display_message()
        };
        compare(result, recorded_end, explain)
    }
}

/// The replayed turn's result against the recorded end of the execution.
fn compare(
    result: TurnResult,
    recorded: Option<&EventKind>,
    explain: impl Fn(&ErrorDetails) -> String,
) -> std::result::Result<(), (ReplayStatus, String)> {
    let diverged = |message: String| Err((ReplayStatus::Diverged, message));
    match (result, recorded) {
        (
            TurnResult::Failed(
                details @ ErrorDetails::Configuration {
                    kind: ConfigErrorKind::Nondeterminism,
                    ..
                },
            ),
            _,
        ) => diverged(explain(&details)),
        (TurnResult::Failed(details), _) if is_driver_divergence(&details) => {
            diverged(details.display_message())
        }
        (TurnResult::Continue, None) => Ok(()),
        (TurnResult::Completed(out), Some(EventKind::OrchestrationCompleted { output })) => {
            if &out == output {
                Ok(())
            } else {
                diverged(format!(
                    "the code returned {} where the history recorded {}",
                    short(&out),
                    short(output)
                ))
            }
        }
        (TurnResult::Failed(_), Some(EventKind::OrchestrationFailed { .. })) => Ok(()),
        (TurnResult::ContinueAsNew { .. }, Some(EventKind::OrchestrationContinuedAsNew { .. })) => {
            Ok(())
        }
        (result, recorded) => diverged(format!(
            "the code {} where the history recorded {}",
            describe_result(&result),
            recorded.map_or("that the execution is still waiting".into(), describe_end)
        )),
    }
}

fn is_driver_divergence(details: &ErrorDetails) -> bool {
    let message = details.display_message();
    message.contains("nondeterministic") || message.contains("diverged from its history")
}

fn describe_result(result: &TurnResult) -> String {
    match result {
        TurnResult::Continue => "waits for something the history does not contain".into(),
        TurnResult::Completed(out) => format!("returned {}", short(out)),
        TurnResult::Failed(d) => format!("failed ({})", short(&d.display_message())),
        TurnResult::ContinueAsNew { .. } => "continued as new".into(),
        TurnResult::Cancelled(r) => format!("was cancelled ({r})"),
    }
}

fn describe_end(kind: &EventKind) -> String {
    match kind {
        EventKind::OrchestrationCompleted { output } => format!("a return of {}", short(output)),
        EventKind::OrchestrationFailed { details } => {
            format!("a failure ({})", short(&details.display_message()))
        }
        EventKind::OrchestrationContinuedAsNew { .. } => "a continue-as-new".into(),
        _ => "another ending".into(),
    }
}

fn short(text: &str) -> String {
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(120).collect::<String>())
    } else {
        text.to_string()
    }
}
