//! The tasks a generator can yield, as the foreign side encodes them, and the durable
//! futures they become.
//!
//! `build` calls the core's `schedule_*` at once, inside the engine's poll, so actions
//! are emitted in the order the generator yielded them: that order is what replay checks.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use duroxide::{BackoffStrategy, OrchestrationContext as CoreCtx, RetryPolicy};
use serde::Deserialize;

use crate::combinators::{self, TaskFuture};
use crate::outcome::Outcome;

#[derive(Debug, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Task {
    Activity {
        name: String,
        input: String,
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        tag: Option<String>,
    },
    Retry {
        name: String,
        input: String,
        #[serde(default)]
        session: Option<String>,
        policy: Policy,
    },
    Timer {
        ms: u64,
    },
    Wait {
        name: String,
    },
    Dequeue {
        queue: String,
    },
    Sub {
        name: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        id: Option<String>,
        input: String,
    },
    Start {
        name: String,
        #[serde(default)]
        version: Option<String>,
        id: String,
        input: String,
    },
    Guid,
    Now,
    Can {
        input: String,
        #[serde(default)]
        version: Option<String>,
    },
    All {
        tasks: Vec<Task>,
    },
    Race {
        tasks: Vec<Task>,
    },
}

/// A retry policy, already validated and normalised by the foreign side.
#[derive(Debug, Deserialize)]
pub struct Policy {
    pub max_attempts: u32,
    /// "none" | "fixed" | "linear" | "exponential"
    pub backoff: String,
    pub delay_ms: u64,
    pub max_delay_ms: u64,
    pub multiplier: f64,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub total_timeout_ms: Option<u64>,
}

/// What this runtime has registered, to turn typos into clear failures at once.
pub struct Known {
    pub activities: HashSet<String>,
    pub orchestrations: HashSet<String>,
}

/// Turns a yielded task into its future. `Err` fails the orchestration with that message.
pub fn build(ctx: &CoreCtx, task: Task, known: &Known) -> Result<TaskFuture, String> {
    Ok(match task {
        Task::Activity {
            name,
            input,
            session,
            tag,
        } => {
            if tag.is_none() && !known.activities.contains(&name) {
                return Err(unregistered("activity", &name, &known.activities));
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
            if !known.activities.contains(&name) {
                return Err(unregistered("activity", &name, &known.activities));
            }
            retry(ctx, name, input, session, policy)?
        }
        Task::Timer { ms } => {
            let fut = ctx.schedule_timer(Duration::from_millis(ms));
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
            if !known.orchestrations.contains(&name) {
                return Err(unregistered("orchestration", &name, &known.orchestrations));
            }
            let fut = match id {
                Some(id) => {
                    ctx.schedule_sub_orchestration_versioned_with_id(name, version, id, input)
                }
                None => ctx.schedule_sub_orchestration_versioned(name, version, input),
            };
            Box::pin(async move { from_result(fut.await) })
        }
        Task::Start {
            name,
            version,
            id,
            input,
        } => {
            if !known.orchestrations.contains(&name) {
                return Err(unregistered("orchestration", &name, &known.orchestrations));
            }
            if id.is_empty() || id.starts_with("sub::") || id.contains("::sub::") {
                return Err(format!(
                    "start_orchestration: instance id {id:?} is empty or uses the reserved marker 'sub::'"
                ));
            }
            ctx.schedule_orchestration_versioned(name, version, id, input);
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
        Task::Can { input, version } => {
            let ctx = ctx.clone();
            // Never resolves: the turn ends and the core starts the next execution.
            Box::pin(async move {
                let _ = match version {
                    Some(v) => ctx.continue_as_new_versioned(v, input).await,
                    None => ctx.continue_as_new(input).await,
                };
                Outcome::Error("continue_as_new resumed unexpectedly".into())
            })
        }
        Task::All { tasks } => combinators::all(build_each(ctx, tasks, known)?),
        Task::Race { tasks } => {
            if tasks.is_empty() {
                return Err("race() needs at least one task".into());
            }
            combinators::race(build_each(ctx, tasks, known)?)
        }
    })
}

fn build_each(ctx: &CoreCtx, tasks: Vec<Task>, known: &Known) -> Result<Vec<TaskFuture>, String> {
    tasks.into_iter().map(|t| build(ctx, t, known)).collect()
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
    name: String,
    input: String,
    session: Option<String>,
    p: Policy,
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
    let activity_name = name.clone();
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
