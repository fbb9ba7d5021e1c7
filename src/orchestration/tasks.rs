//! The tasks a generator can yield, as the foreign side encodes them (`schedule` turns
//! them into durable futures).

use serde::Deserialize;

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

impl Task {
    /// True when the task's result is settled by the engine alone, whenever (or whether)
    /// its future is polled: activities, timers, events, sub-orchestrations. Not retries
    /// (polling schedules the next attempt), queue dequeues (polling takes the message),
    /// nor composites.
    pub fn completes_without_polling(&self) -> bool {
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

    /// True when `other` is the same step as far as replay is concerned: the same task,
    /// except that timers match whatever their duration (the core's replay matches timers
    /// by position only, so checks must not be stricter than a replay from history).
    pub fn same_step(&self, other: &Task) -> bool {
        match (self, other) {
            (Task::Timer { .. }, Task::Timer { .. }) => true,
            (Task::All { tasks: a }, Task::All { tasks: b })
            | (Task::Race { tasks: a }, Task::Race { tasks: b }) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_step(y))
            }
            _ => self == other,
        }
    }

    /// The history event this task records when scheduled, for divergence messages.
    pub fn as_history(&self) -> String {
        let scheduled = |name: &str| format!("ActivityScheduled {{ name: {name:?} }}");
        match self {
            Task::Activity { name, .. } | Task::Retry { name, .. } => scheduled(name),
            Task::Timer { .. } => "TimerCreated".into(),
            Task::Wait { name } => format!("ExternalSubscribed {{ name: {name:?} }}"),
            Task::Dequeue { queue } => format!("QueueSubscribed {{ name: {queue:?} }}"),
            Task::Sub { name, .. } => format!("SubOrchestrationScheduled {{ name: {name:?} }}"),
            Task::Start { name, id, .. } => {
                format!("OrchestrationChained {{ name: {name:?}, instance: {id:?} }}")
            }
            Task::Guid => scheduled("__duroxide_syscall:new_guid"),
            Task::Now => scheduled("__duroxide_syscall:utc_now_ms"),
            Task::KvOf { .. } => scheduled("__duroxide_syscall:get_kv_value"),
            Task::Can { .. } => "OrchestrationContinuedAsNew".into(),
            Task::All { tasks } | Task::Race { tasks } => {
                let parts: Vec<String> = tasks.iter().map(Task::as_history).collect();
                parts.join(", ")
            }
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

#[cfg(test)]
mod tests {
    use super::Task;

    #[test]
    fn timers_are_the_same_step_whatever_their_duration() {
        let timer = |ms| Task::Timer { ms };
        let wait = Task::Wait { name: "go".into() };
        assert!(timer(1).same_step(&timer(2)));
        let race = |ms| Task::Race {
            tasks: vec![wait.clone(), timer(ms)],
        };
        assert!(race(10).same_step(&race(20)));
        assert!(!timer(1).same_step(&wait));
        assert!(!race(1).same_step(&Task::Race {
            tasks: vec![wait.clone()]
        }));
    }
}
