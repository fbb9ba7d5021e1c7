//! The note a driver leaves with the store layer at the end of a turn: the suspended
//! generator, which enters the replay cache only once the turn's acknowledgement
//! committed (so a cached generator never got ahead of the committed history), and the
//! turn's last yield, which turns the core's nondeterminism failures into messages that
//! point at the user's code.

use std::sync::{Arc, Weak};

use duroxide::{ConfigErrorKind, ErrorDetails};

use crate::orchestration::generator::Generator;
use crate::orchestration::nondeterminism::{self, YieldNote};
use crate::orchestration::replay_cache::ReplayCache;
use crate::store::events::TurnNote;

pub struct ParkedTurn {
    pub generator: Option<(Generator, Weak<ReplayCache>)>,
    pub last_yield: Option<YieldNote>,
    /// The nondeterminism failure the driver ended the turn with: the engine records it as
    /// the orchestration's own failure; it is recorded as the nondeterminism it is.
    pub divergence: Option<String>,
}

impl ParkedTurn {
    /// The owner id of a runtime's notes: its cache's address.
    pub fn owner_of(cache: &Arc<ReplayCache>) -> usize {
        Arc::as_ptr(cache) as usize
    }
}

impl TurnNote for ParkedTurn {
    fn explain_failure(&self, details: &ErrorDetails) -> Option<ErrorDetails> {
        if let (Some(divergence), ErrorDetails::Application { message, .. }) =
            (&self.divergence, details)
        {
            if message == divergence {
                let text = message
                    .strip_prefix(nondeterminism::PREFIX)
                    .unwrap_or(message);
                return Some(ErrorDetails::Configuration {
                    kind: ConfigErrorKind::Nondeterminism,
                    resource: String::new(),
                    message: Some(text.to_string()),
                });
            }
        }
        nondeterminism::explain(details, self.last_yield.as_ref())
    }

    fn committed(self: Box<Self>, instance: &str, terminal: bool) {
        if let Some((generator, cache)) = self.generator {
            match cache.upgrade() {
                Some(cache) if !terminal => cache.put(instance.to_string(), generator),
                _ => drop(generator),
            }
        }
    }

    fn owned_by(&self, owner: usize) -> bool {
        self.generator
            .as_ref()
            .is_some_and(|(_, cache)| cache.as_ptr() as usize == owner)
    }
}
