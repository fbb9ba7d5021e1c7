//! Failure messages that say what to do.
//!
//! The core reports a nondeterministic replay as `schedule mismatch: action=<Rust Debug>
//! vs event=<Rust Debug>`, and a turn that drained too many queued messages as a
//! `quiescence_loop` infrastructure error. The store layer rewrites both before they are
//! committed: the first names the orchestration, the step, the Python source line of the
//! offending `yield` and what history recorded; the second says how to restructure.

use duroxide::{ConfigErrorKind, ErrorDetails};

/// The last step a driver's generator yielded in a turn.
#[derive(Debug, Clone)]
pub struct YieldNote {
    /// `name@version`.
    pub orchestration: String,
    /// 1-based position of the yield in the execution.
    pub step: usize,
    /// The yielded task, described in Python terms.
    pub yielded: String,
    /// `file:line` of the `yield`, when the foreign side reported it.
    pub at: Option<String>,
}

const MARK: &str = "diverged from its history";
/// How the core displays a nondeterminism failure's message.
pub const PREFIX: &str = "nondeterministic: ";
const ADVICE: &str =
    "An instance that is already running must replay the same steps in the same order. \
Restore the old code path, or register the change as a new version \
(register_orchestration_versioned) so running instances keep the old one.";

/// The rewritten failure, or None when `details` needs no rewriting.
pub fn explain(details: &ErrorDetails, note: Option<&YieldNote>) -> Option<ErrorDetails> {
    match details {
        ErrorDetails::Configuration {
            kind: ConfigErrorKind::Nondeterminism,
            resource,
            message,
        } => {
            let core = message.clone().unwrap_or_default();
            if core.contains(MARK) {
                return None;
            }
            Some(ErrorDetails::Configuration {
                kind: ConfigErrorKind::Nondeterminism,
                resource: resource.clone(),
                message: Some(nondeterminism_message(&core, note)),
            })
        }
        ErrorDetails::Infrastructure {
            operation,
            message,
            retryable,
        } if operation == "quiescence_loop" && !message.contains("continue_as_new") => {
            Some(ErrorDetails::Infrastructure {
                operation: operation.clone(),
                message: format!(
                    "one turn of the orchestration took more than 100 steps that completed at once \
                     (typically `dequeue_event` in a loop over a backlog of more than ~100 queued messages). \
                     Dequeue at most about 90 messages per execution, then call ctx.continue_as_new(): \
                     unread messages carry over to the next execution. (core: {message})"
                ),
                retryable: *retryable,
            })
        }
        _ => None,
    }
}

/// The message of a divergence a determinism check found: the code `did` something at
/// `step` (at the `at` source line) where the history recorded `recorded`.
pub fn divergence_message(
    orchestration: &str,
    step: usize,
    did: &str,
    at: Option<&str>,
    recorded: Option<&str>,
) -> String {
    let at = at.map(|a| format!(" at {a}")).unwrap_or_default();
    let recorded = recorded
        .map(|r| format!(", but the history recorded {r}"))
        .unwrap_or_default();
    format!(
        "nondeterministic: orchestration '{orchestration}' {MARK} at step {step}: the code {did}{at}{recorded}. \
         (Found by a determinism check: a fresh run of the code over the instance's history did \
         not repeat what the running generator did.) {ADVICE}"
    )
}

fn nondeterminism_message(core: &str, note: Option<&YieldNote>) -> String {
    let recorded = core
        .split_once(" vs event=")
        .map(|(_, event)| event.trim().to_string());
    let Some(note) = note else {
        return format!("the orchestration {MARK}: {core}. {ADVICE}");
    };
    let at = note
        .at
        .as_deref()
        .map(|a| format!(" at {a}"))
        .unwrap_or_default();
    let mut text = format!(
        "orchestration '{}' {MARK} at step {}: the code yielded {}{at}",
        note.orchestration, note.step, note.yielded
    );
    match recorded {
        Some(event) => text.push_str(&format!(", but the history recorded {event}. ")),
        None => text.push_str(&format!(" ({core}). ")),
    }
    text.push_str(ADVICE);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> YieldNote {
        YieldNote {
            orchestration: "Det@1.0.0".into(),
            step: 2,
            yielded: "schedule_activity('B')".into(),
            at: Some("app.py:42".into()),
        }
    }

    #[test]
    fn schedule_mismatch_names_step_line_and_history() {
        let details = ErrorDetails::Configuration {
            kind: ConfigErrorKind::Nondeterminism,
            resource: String::new(),
            message: Some(
                "schedule mismatch: action=CallActivity { name: \"B\" } vs event=ActivityScheduled { name: \"A\" }".into(),
            ),
        };
        let out = explain(&details, Some(&note())).unwrap().display_message();
        assert!(out.contains("'Det@1.0.0'"), "{out}");
        assert!(out.contains("step 2"), "{out}");
        assert!(out.contains("app.py:42"), "{out}");
        assert!(
            out.contains("recorded ActivityScheduled { name: \"A\" }"),
            "{out}"
        );
        // Rewriting is idempotent (the core may retry an acknowledgement).
        let again = explain(&explain(&details, Some(&note())).unwrap(), Some(&note()));
        assert!(again.is_none());
    }

    #[test]
    fn quiescence_failure_says_what_to_do() {
        let details = ErrorDetails::Infrastructure {
            operation: "quiescence_loop".into(),
            message: "quiescence loop exceeded 100 iterations".into(),
            retryable: false,
        };
        let out = explain(&details, None).unwrap().display_message();
        assert!(out.contains("continue_as_new"), "{out}");
        assert!(out.starts_with("infrastructure:quiescence_loop"), "{out}");
    }

    #[test]
    fn other_failures_are_left_alone() {
        let details = ErrorDetails::Application {
            kind: duroxide::AppErrorKind::OrchestrationFailed,
            message: "boom".into(),
            retryable: false,
        };
        assert!(explain(&details, Some(&note())).is_none());
    }
}
