//! Yielded tasks become durable futures here.
//!
//! `build` calls the core's `schedule_*` at once, inside the engine's poll, so actions
//! are emitted in the order the generator yielded them: that order is what replay checks.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use duroxide::{BackoffStrategy, OrchestrationContext as CoreCtx, RetryPolicy};

use crate::orchestration::combinators::{self, TaskFuture};
use crate::orchestration::outcome::Outcome;
use crate::orchestration::tasks::{Policy, Task};

/// What this runtime has registered, to turn typos into clear failures at once.
pub struct Known {
    pub activities: HashSet<String>,
    pub orchestrations: HashSet<String>,
    /// `(name, version)` of every registered orchestration.
    pub versions: HashSet<(String, String)>,
    /// Replaying offline: nothing runs, so every name is accepted.
    pub any: bool,
    /// Whether this runtime runs untagged activities itself: only then is an untagged
    /// activity it did not register a mistake to report at once. An orchestration-only
    /// runtime (`TagFilter.none()`, or tags only) leaves them to the workers that do.
    pub runs_untagged: bool,
}

impl Known {
    /// Accepts every activity and orchestration name (an offline replay runs nothing).
    pub fn anything() -> Self {
        Self {
            activities: HashSet::new(),
            orchestrations: HashSet::new(),
            versions: HashSet::new(),
            any: true,
            runs_untagged: false,
        }
    }

    fn activity(&self, name: &str) -> Result<(), String> {
        if self.any || !self.runs_untagged || self.activities.contains(name) {
            Ok(())
        } else {
            Err(unregistered("activity", name, &self.activities))
        }
    }
}

impl Known {
    /// `Err` (the failure message) when this runtime lacks `name`, or its `version`.
    fn orchestration(&self, name: &str, version: Option<&String>) -> Result<(), String> {
        if self.any {
            return Ok(());
        }
        if !self.orchestrations.contains(name) {
            return Err(unregistered("orchestration", name, &self.orchestrations));
        }
        match version {
            Some(v) if !self.versions.contains(&(name.to_string(), v.clone())) => {
                let mut have: Vec<&str> = self
                    .versions
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                have.sort_unstable();
                Err(format!(
                    "version {v} of orchestration '{name}' is not registered with this runtime (registered: {}); register it with runtime.register_orchestration_versioned() before start()",
                    have.join(", ")
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Turns a yielded task into its future. `Err` fails the orchestration with that message.
pub fn build(ctx: &CoreCtx, task: &Task, known: &Known) -> Result<TaskFuture, String> {
    build_in(ctx, task, known, false)
}

/// `in_race`: the task may be dropped before it completes (it is inside a race), so an
/// `all` in it must observe every child eagerly (see `combinators::all`).
fn build_in(
    ctx: &CoreCtx,
    task: &Task,
    known: &Known,
    in_race: bool,
) -> Result<TaskFuture, String> {
    Ok(match task {
        Task::Activity {
            name,
            input,
            session,
            tag,
        } => {
            if tag.is_none() {
                known.activity(name)?;
            }
            let mut fut = match session {
                Some(s) => ctx.schedule_activity_on_session(name, input, s),
                None => ctx.schedule_activity(name, input),
            };
            if let Some(tag) = tag {
                fut = fut.with_tag(tag);
            }
            Box::pin(async move { from_result(fut.await) })
        }
        Task::Retry {
            name,
            input,
            session,
            policy,
        } => {
            known.activity(name)?;
            retry(ctx, name, input, session.clone(), policy)?
        }
        Task::Timer { ms } => {
            let fut = ctx.schedule_timer(Duration::from_millis(*ms));
            Box::pin(async move {
                fut.await;
                Outcome::Value("null".into())
            })
        }
        Task::Wait { name } => {
            let fut = ctx.schedule_wait(name);
            Box::pin(async move { Outcome::Value(fut.await) })
        }
        Task::Dequeue { queue } => {
            let fut = ctx.dequeue_event(queue);
            Box::pin(async move { Outcome::Value(fut.await) })
        }
        Task::Sub {
            name,
            version,
            id,
            input,
        } => {
            known.orchestration(name, version.as_ref())?;
            let fut = match id {
                Some(id) => ctx.schedule_sub_orchestration_versioned_with_id(
                    name,
                    version.clone(),
                    id,
                    input,
                ),
                None => ctx.schedule_sub_orchestration_versioned(name, version.clone(), input),
            };
            Box::pin(async move { from_result(fut.await) })
        }
        Task::Start {
            name,
            version,
            id,
            input,
        } => {
            known.orchestration(name, version.as_ref())?;
            if id.is_empty() || id.starts_with("sub::") || id.contains("::sub::") {
                return Err(format!(
                    "start_orchestration: instance id {id:?} is empty or uses the reserved marker 'sub::'"
                ));
            }
            ctx.schedule_orchestration_versioned(name, version.clone(), id, input);
            Box::pin(std::future::ready(Outcome::Value("null".into())))
        }
        Task::Guid => {
            let ctx = ctx.clone();
            Box::pin(async move {
                match ctx.new_guid().await {
                    Ok(guid) => Outcome::Value(serde_json::Value::String(guid).to_string()),
                    Err(e) => Outcome::Error(e),
                }
            })
        }
        Task::Now => {
            let ctx = ctx.clone();
            Box::pin(async move {
                match ctx.utc_now().await {
                    Ok(t) => {
                        let ms = t
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_millis())
                            .unwrap_or(0);
                        Outcome::Value(ms.to_string())
                    }
                    Err(e) => Outcome::Error(e),
                }
            })
        }
        Task::KvOf { instance, key } => {
            let fut = ctx.get_kv_value_from_instance(instance, key);
            Box::pin(async move {
                match fut.await {
                    // JSON text of the optional string: `null` or a quoted string.
                    Ok(value) => Outcome::Value(
                        serde_json::to_string(&value).unwrap_or_else(|_| "null".into()),
                    ),
                    Err(e) => Outcome::Error(e),
                }
            })
        }
        Task::Can { input, version } => {
            if version.is_some() {
                known.orchestration(&ctx.orchestration_name(), version.as_ref())?;
            }
            let (ctx, input, version) = (ctx.clone(), input.clone(), version.clone());
            // Never resolves: the turn ends and the core starts the next execution.
            Box::pin(async move {
                let _ = match version {
                    Some(v) => ctx.continue_as_new_versioned(v, input).await,
                    None => ctx.continue_as_new(input).await,
                };
                Outcome::Error("continue_as_new resumed unexpectedly".into())
            })
        }
        Task::All { tasks } => {
            let children = tasks
                .iter()
                .map(|t| {
                    let lazy = !in_race && t.completes_without_polling();
                    build_in(ctx, t, known, in_race).map(|f| (f, lazy))
                })
                .collect::<Result<Vec<_>, String>>()?;
            combinators::all(children)
        }
        Task::Race { tasks } => {
            if tasks.is_empty() {
                return Err("race() needs at least one task".into());
            }
            let children = tasks
                .iter()
                .map(|t| build_in(ctx, t, known, true))
                .collect::<Result<Vec<_>, String>>()?;
            combinators::race(children)
        }
    })
}

fn from_result(result: Result<String, String>) -> Outcome {
    match result {
        Ok(v) => Outcome::Value(v),
        Err(e) => Outcome::Error(e),
    }
}

fn unregistered(what: &str, name: &str, known: &HashSet<String>) -> String {
    let mut names: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("__duroxide"))
        .collect();
    names.sort_unstable();
    format!(
        "{what} '{name}' is not registered with this runtime (registered: {}); register it with runtime.register_{what}() before start()",
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    )
}

fn retry(
    ctx: &CoreCtx,
    name: &str,
    input: &str,
    session: Option<String>,
    p: &Policy,
) -> Result<TaskFuture, String> {
    if p.max_attempts == 0 {
        return Err("retry policy: max_attempts must be at least 1".into());
    }
    let ms = Duration::from_millis;
    let backoff = match p.backoff.as_str() {
        "none" => BackoffStrategy::None,
        "fixed" => BackoffStrategy::Fixed {
            delay: ms(p.delay_ms),
        },
        "linear" => BackoffStrategy::Linear {
            base: ms(p.delay_ms),
            max: ms(p.max_delay_ms),
        },
        "exponential" => BackoffStrategy::Exponential {
            base: ms(p.delay_ms),
            multiplier: p.multiplier,
            max: ms(p.max_delay_ms),
        },
        other => return Err(format!("retry policy: unknown backoff {other:?}")),
    };
    let mut policy = RetryPolicy::new(p.max_attempts).with_backoff(backoff);
    if let Some(t) = p.timeout_ms {
        policy = policy.with_timeout(ms(t));
    }
    // The total deadline is a durable timer raced against the whole retry loop; it is
    // scheduled first so the emission order is the same on every replay.
    let deadline = p.total_timeout_ms.map(|t| (t, ctx.schedule_timer(ms(t))));
    let activity_name = name.to_string();
    let (name, input) = (name.to_string(), input.to_string());
    let ctx = ctx.clone();
    let attempts: TaskFuture = Box::pin(async move {
        from_result(match session {
            Some(s) => {
                ctx.schedule_activity_with_retry_on_session(name, input, policy, s)
                    .await
            }
            None => ctx.schedule_activity_with_retry(name, input, policy).await,
        })
    });
    Ok(match deadline {
        None => attempts,
        Some((total, timer)) => {
            let timer: TaskFuture = Box::pin(async move {
                timer.await;
                Outcome::Error(format!(
                    "timeout: activity '{activity_name}' did not succeed within total_timeout_ms={total}"
                ))
            });
            let raced = combinators::race(vec![attempts, timer]);
            Box::pin(async move {
                match raced.await {
                    Outcome::Race(_, winner) => *winner,
                    other => other,
                }
            })
        }
    })
}
