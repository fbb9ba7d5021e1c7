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

#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// A KV value of another instance (a system activity).
    KvOf {
        instance: String,
        key: String,
    },
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// `(name, version)` of every registered orchestration.
    pub versions: HashSet<(String, String)>,
}

impl Known {
    /// `Err` (the failure message) when this runtime lacks `name`, or its `version`.
    fn orchestration(&self, name: &str, version: Option<&String>) -> Result<(), String> {
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
            if tag.is_none() && !known.activities.contains(name) {
                return Err(unregistered("activity", name, &known.activities));
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
            if !known.activities.contains(name) {
                return Err(unregistered("activity", name, &known.activities));
            }
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

impl Task {
    /// True when the task's result is settled by the engine alone, whenever (or whether)
    /// its future is polled: activities, timers, events, sub-orchestrations. Not retries
    /// (polling schedules the next attempt), queue dequeues (polling takes the message),
    /// nor composites.
    fn completes_without_polling(&self) -> bool {
        matches!(
            self,
            Task::Activity { .. }
                | Task::Timer { .. }
                | Task::Wait { .. }
                | Task::Sub { .. }
                | Task::Start { .. }
                | Task::Guid
                | Task::Now
                | Task::KvOf { .. }
        )
    }

    /// The task as the Python call that made it, for messages.
    pub fn describe(&self) -> String {
        let short = |s: &str| {
            if s.chars().count() > 80 {
                format!("{}...", s.chars().take(80).collect::<String>())
            } else {
                s.to_string()
            }
        };
        match self {
            Task::Activity {
                name,
                input,
                session,
                tag,
            } => {
                let mut text = format!("schedule_activity({name:?}, input={})", short(input));
                if let Some(s) = session {
                    text.push_str(&format!(" on session {s:?}"));
                }
                if let Some(t) = tag {
                    text.push_str(&format!(" with tag {t:?}"));
                }
                text
            }
            Task::Retry { name, input, .. } => {
                format!(
                    "schedule_activity_with_retry({name:?}, input={})",
                    short(input)
                )
            }
            Task::Timer { ms } => format!("schedule_timer({ms})"),
            Task::Wait { name } => format!("wait_for_event({name:?})"),
            Task::Dequeue { queue } => format!("dequeue_event({queue:?})"),
            Task::Sub {
                name, id, input, ..
            } => match id {
                Some(id) => format!(
                    "schedule_sub_orchestration_with_id({name:?}, {id:?}, input={})",
                    short(input)
                ),
                None => format!(
                    "schedule_sub_orchestration({name:?}, input={})",
                    short(input)
                ),
            },
            Task::Start { name, id, .. } => format!("start_orchestration({name:?}, {id:?})"),
            Task::Guid => "new_guid()".into(),
            Task::Now => "utc_now()".into(),
            Task::KvOf { instance, key } => {
                format!("get_kv_value_from_instance({instance:?}, {key:?})")
            }
            Task::Can { .. } => "continue_as_new(...)".into(),
            Task::All { tasks } => format!("all([{}])", describe_list(tasks)),
            Task::Race { tasks } => format!("race({})", describe_list(tasks)),
        }
    }

    /// Approximate memory the task takes, for the replay cache's budget.
    pub fn bytes(&self) -> usize {
        let strings: usize = match self {
            Task::Activity {
                name,
                input,
                session,
                tag,
            } => {
                name.len()
                    + input.len()
                    + session.as_ref().map_or(0, String::len)
                    + tag.as_ref().map_or(0, String::len)
            }
            Task::Retry { name, input, .. } => name.len() + input.len(),
            Task::Wait { name } => name.len(),
            Task::Dequeue { queue } => queue.len(),
            Task::Sub { name, input, .. } | Task::Start { name, input, .. } => {
                name.len() + input.len()
            }
            Task::KvOf { instance, key } => instance.len() + key.len(),
            Task::Can { input, .. } => input.len(),
            Task::All { tasks } | Task::Race { tasks } => tasks.iter().map(Task::bytes).sum(),
            Task::Timer { .. } | Task::Guid | Task::Now => 0,
        };
        strings + 48
    }
}

fn describe_list(tasks: &[Task]) -> String {
    let shown: Vec<String> = tasks.iter().take(3).map(Task::describe).collect();
    let more = tasks.len().saturating_sub(3);
    if more > 0 {
        format!("{}, ... {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
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
