//! The runtimes started in this process, per store: one registry for the exit hook (which
//! stops them all) and for clients (which check names against what the runtimes on their
//! store registered).
//!
//! A client sharing a provider with a running runtime can then refuse to start an
//! orchestration nobody here knows, instead of persisting an instance that would sit in
//! the queue until the core gives up on it minutes later.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub struct LiveRuntime {
    pub core: Arc<duroxide::runtime::Runtime>,
    /// `StoreEvents::id` of the store it runs on.
    pub store_id: usize,
    /// `(name, version)` pairs.
    pub orchestrations: HashSet<(String, String)>,
}

impl LiveRuntime {
    fn has_orchestration(&self, name: &str, version: Option<&str>) -> bool {
        self.orchestrations
            .iter()
            .any(|(n, v)| n == name && version.is_none_or(|want| want == v))
    }

    fn describe_orchestrations(&self) -> String {
        let mut names: Vec<String> = self
            .orchestrations
            .iter()
            .map(|(n, v)| format!("{n}@{v}"))
            .collect();
        names.sort();
        names.join(", ")
    }
}

static LIVE: Mutex<Vec<Arc<LiveRuntime>>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<Arc<LiveRuntime>>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn add(entry: Arc<LiveRuntime>) {
    live().push(entry);
}

pub fn remove(entry: &Arc<LiveRuntime>) {
    live().retain(|e| !Arc::ptr_eq(e, entry));
}

/// Every runtime still registered, unregistering them (the exit hook).
pub fn take_all() -> Vec<Arc<LiveRuntime>> {
    std::mem::take(&mut *live())
}

/// `Err(registered list)` when at least one runtime here uses this store and none of them
/// registered the orchestration; `Ok` when one did or when no runtime here uses the store.
pub fn check_orchestration(
    store_id: usize,
    name: &str,
    version: Option<&str>,
) -> Result<(), String> {
    let live = live();
    let mut on_store = live.iter().filter(|r| r.store_id == store_id).peekable();
    if on_store.peek().is_none() {
        return Ok(());
    }
    let mut known = Vec::new();
    for r in on_store {
        if r.has_orchestration(name, version) {
            return Ok(());
        }
        known.push(r.describe_orchestrations());
    }
    Err(known.join("; "))
}
