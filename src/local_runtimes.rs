//! What the runtimes started in this process have registered, per store.
//!
//! A client sharing a provider with a running runtime can then refuse to start an
//! orchestration nobody here knows, instead of persisting an instance that would sit in
//! the queue until the core gives up on it minutes later.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Identity of a store: the address of its `StoreEvents`, shared by every handle on it.
pub fn store_id(events: &std::sync::Arc<crate::store_events::StoreEvents>) -> usize {
    std::sync::Arc::as_ptr(events) as usize
}

pub struct Registered {
    pub store_id: usize,
    /// `(name, version)` pairs.
    pub orchestrations: HashSet<(String, String)>,
}

impl Registered {
    pub fn has_orchestration(&self, name: &str, version: Option<&str>) -> bool {
        self.orchestrations
            .iter()
            .any(|(n, v)| n == name && version.is_none_or(|want| want == v))
    }

    pub fn describe_orchestrations(&self) -> String {
        let mut names: Vec<String> = self
            .orchestrations
            .iter()
            .map(|(n, v)| format!("{n}@{v}"))
            .collect();
        names.sort();
        names.join(", ")
    }
}

static LIVE: Mutex<Vec<Arc<Registered>>> = Mutex::new(Vec::new());

pub fn add(entry: Arc<Registered>) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
}

pub fn remove(entry: &Arc<Registered>) {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|e| !Arc::ptr_eq(e, entry));
}

/// `Err(registered list)` when at least one runtime here uses this store and none of them
/// registered the orchestration; `Ok` when one did or when no runtime here uses the store.
pub fn check_orchestration(
    store_id: usize,
    name: &str,
    version: Option<&str>,
) -> Result<(), String> {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
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
