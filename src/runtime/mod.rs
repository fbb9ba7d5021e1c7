//! `Runtime`: registries, start and shutdown of the core's dispatchers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use duroxide::runtime::registry::VersionPolicy;
use duroxide::runtime::OrchestrationRegistry;
use duroxide::OrchestrationContext as CoreCtx;

use crate::activity::{self, ActivityInvoker};
use crate::ffi::error::{DuroxideError, Result};
use crate::orchestration::driver::{DriverEnv, DriverStats, OrchestrationDriver};
pub mod options;

use crate::ffi::{executor, logging};
use crate::orchestration::generator::OrchestrationStepper;
use crate::orchestration::parked::ParkedTurn;
use crate::orchestration::replay_cache::ReplayCache;
use crate::orchestration::schedule::Known;
use crate::runtime::options::RuntimeConfig;
use crate::store::providers::Provider;
use crate::store::registered::{self as live, LiveRuntime};
use crate::store::runtime_view::RuntimeView;

#[derive(Debug, Clone)]
pub struct OrchestrationRegistration {
    pub name: String,
    pub version: String,
}

enum State {
    Idle,
    Running {
        live: Arc<LiveRuntime>,
        drivers: Arc<DriverEnv>,
    },
    Stopped,
}

pub struct Runtime {
    provider: Arc<Provider>,
    config: RuntimeConfig,
    stepper: Arc<dyn OrchestrationStepper>,
    invoker: Arc<dyn ActivityInvoker>,
    state: Mutex<State>,
}

impl Runtime {
    pub fn new(
        provider: Arc<Provider>,
        config: RuntimeConfig,
        stepper: Box<dyn OrchestrationStepper>,
        invoker: Box<dyn ActivityInvoker>,
    ) -> Self {
        Self {
            provider,
            config,
            stepper: Arc::from(stepper),
            invoker: Arc::from(invoker),
            state: Mutex::new(State::Idle),
        }
    }

    pub fn start(
        &self,
        orchestrations: Vec<OrchestrationRegistration>,
        activities: Vec<String>,
    ) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *state {
            State::Idle => {}
            State::Running { .. } => {
                return Err(DuroxideError::invalid("the runtime is already started"))
            }
            State::Stopped => {
                return Err(DuroxideError::closed(
                    "the runtime was shut down; create a new Runtime to start again",
                ))
            }
        }
        let options = self.config.to_core()?;
        let activity_names: HashSet<String> = activities.into_iter().collect();
        let drivers = Arc::new(self.driver_env(&orchestrations, &activity_names));
        let orchestration_registry = self.orchestration_registry(&orchestrations, &drivers)?;
        let activity_registry = activity::registry(
            &activity_names,
            self.invoker.clone(),
            self.provider.events(),
            self.provider.core(),
        )
        .map_err(DuroxideError::invalid)?;

        logging::apply_runtime_options(
            &self.config.log_level,
            &self.config.log_format,
            &self.config.service_name,
            self.config.service_version.as_deref(),
        )?;
        // The runtime's own view of the store (see `runtime_view`); clients use the store.
        let store: Arc<dyn duroxide::providers::Provider> =
            Arc::new(RuntimeView::new(self.provider.core()));
        let core = executor::block_on(async move {
            duroxide::runtime::Runtime::start_with_options(
                store,
                activity_registry,
                orchestration_registry,
                options,
            )
            .await
        });
        let live = Arc::new(LiveRuntime {
            core,
            store_id: self.provider.events().id(),
            orchestrations: orchestrations
                .into_iter()
                .map(|r| (r.name, r.version))
                .collect(),
        });
        live::add(live.clone());
        *state = State::Running { live, drivers };
        Ok(())
    }

    fn driver_env(
        &self,
        registrations: &[OrchestrationRegistration],
        activities: &HashSet<String>,
    ) -> DriverEnv {
        DriverEnv {
            stepper: self.stepper.clone(),
            known: Known {
                activities: activities.clone(),
                orchestrations: registrations.iter().map(|r| r.name.clone()).collect(),
                versions: registrations
                    .iter()
                    .map(|r| (r.name.clone(), r.version.clone()))
                    .collect(),
                any: false,
                runs_untagged: matches!(
                    self.config.worker_tag_filter.as_str(),
                    "default_only" | "default_and" | "any"
                ),
            },
            cache: Arc::new(ReplayCache::new(self.config.replay_cache_size as usize)),
            events: self.provider.events(),
            stats: DriverStats::default(),
            checks: self.config.determinism_checks,
            check_stats: Default::default(),
        }
    }

    fn orchestration_registry(
        &self,
        registrations: &[OrchestrationRegistration],
        env: &Arc<DriverEnv>,
    ) -> Result<OrchestrationRegistry> {
        // The core panics on versions registered out of order: sort them per name.
        let mut by_name: HashMap<&str, Vec<semver::Version>> = HashMap::new();
        for r in registrations {
            let version = semver::Version::parse(&r.version).map_err(|e| {
                DuroxideError::invalid(format!(
                    "orchestration '{}': version {:?} is not semver: {e}",
                    r.name, r.version
                ))
            })?;
            by_name.entry(&r.name).or_default().push(version);
        }
        let mut builder = OrchestrationRegistry::builder();
        let mut names: Vec<_> = by_name.into_iter().collect();
        names.sort();
        for (name, mut versions) in names {
            versions.sort();
            for version in versions {
                let env = env.clone();
                builder = builder.register_versioned(
                    name,
                    version.to_string(),
                    move |ctx: CoreCtx, input: String| {
                        OrchestrationDriver::new(env.clone(), ctx, input)
                    },
                );
            }
            builder = builder.set_policy(name, VersionPolicy::Latest);
        }
        builder.build_result().map_err(DuroxideError::invalid)
    }

    pub fn shutdown(&self, timeout_ms: Option<u64>) {
        let previous = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *state, State::Stopped)
        };
        if let State::Running { live, drivers } = previous {
            live::remove(&live);
            stop(&live, timeout_ms);
            drivers
                .events
                .forget_turns_of(ParkedTurn::owner_of(&drivers.cache));
            drivers.cache.clear();
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Running { .. }
        )
    }

    pub fn metrics_snapshot(&self) -> Option<HashMap<String, u64>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State::Running { live, .. } = &*state else {
            return None;
        };
        let m = live.core.metrics_snapshot()?;
        Some(HashMap::from([
            ("orch_starts".into(), m.orch_starts),
            ("orch_completions".into(), m.orch_completions),
            ("orch_failures".into(), m.orch_failures),
            ("orch_application_errors".into(), m.orch_application_errors),
            (
                "orch_infrastructure_errors".into(),
                m.orch_infrastructure_errors,
            ),
            (
                "orch_configuration_errors".into(),
                m.orch_configuration_errors,
            ),
            ("orch_poison".into(), m.orch_poison),
            ("activity_success".into(), m.activity_success),
            ("activity_app_errors".into(), m.activity_app_errors),
            ("activity_infra_errors".into(), m.activity_infra_errors),
            ("activity_config_errors".into(), m.activity_config_errors),
            ("activity_poison".into(), m.activity_poison),
            (
                "orch_dispatcher_items_fetched".into(),
                m.orch_dispatcher_items_fetched,
            ),
            (
                "worker_dispatcher_items_fetched".into(),
                m.worker_dispatcher_items_fetched,
            ),
            ("orch_continue_as_new".into(), m.orch_continue_as_new),
            ("suborchestration_calls".into(), m.suborchestration_calls),
            ("provider_errors".into(), m.provider_errors),
        ]))
    }
}

impl Runtime {
    /// What the orchestration drivers did: Python steps, steps replayed from the cache, ...
    pub fn driver_stats(&self) -> HashMap<String, u64> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State::Running { drivers, .. } = &*state else {
            return HashMap::new();
        };
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let s = &drivers.stats;
        HashMap::from([
            ("turns".into(), get(&s.turns)),
            ("foreign_steps".into(), get(&s.foreign_steps)),
            ("replayed_steps".into(), get(&s.replayed_steps)),
            ("cache_hits".into(), get(&s.cache_hits)),
            ("cache_misses".into(), get(&s.cache_misses)),
            ("catch_ups".into(), get(&s.catch_ups)),
            ("cache_evictions".into(), drivers.cache.evictions()),
            ("cached_generators".into(), drivers.cache.len() as u64),
            ("lock_retries".into(), drivers.events.lock_retries()),
            (
                "determinism_checks".into(),
                get(&drivers.check_stats.checks),
            ),
            (
                "determinism_check_steps".into(),
                get(&drivers.check_stats.steps),
            ),
            ("divergences".into(), get(&drivers.check_stats.divergences)),
        ])
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(Some(0));
    }
}

fn stop(live: &LiveRuntime, timeout_ms: Option<u64>) {
    let core = live.core.clone();
    executor::block_on(async move { core.shutdown(timeout_ms).await });
}

/// Stops every running runtime (the exit hook).
pub fn shutdown_all(timeout_ms: u64) {
    for live in live::take_all() {
        stop(&live, Some(timeout_ms));
    }
}
