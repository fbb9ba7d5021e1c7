//! Live generators kept between turns, per instance, least recently used out first.
//!
//! A generator enters only after the turn that left it suspended was committed (see
//! `store_events`), so what it has seen is always a prefix of the instance's history.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::orchestration::generator::Generator;

/// Total size budget of the recorded traces of one runtime's cached generators.
const MAX_BYTES: usize = 128 * 1024 * 1024;
/// A generator whose record grew past this is replayed from history instead.
const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (u64, Generator, usize)>,
    by_age: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
}

pub struct ReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
    evictions: AtomicU64,
}

impl ReplayCache {
    /// A cache of up to `capacity` generators; 0 turns caching off.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn take(&self, instance: &str) -> Option<Generator> {
        let mut inner = self.lock();
        let (tick, generator, bytes) = inner.entries.remove(instance)?;
        inner.by_age.remove(&tick);
        inner.bytes -= bytes;
        Some(generator)
    }

    /// Keeps `generator` for `instance`, evicting the oldest entries beyond the limits.
    pub fn put(&self, instance: String, generator: Generator) {
        let bytes = generator.bytes();
        if !self.enabled() || bytes > MAX_ENTRY_BYTES {
            return; // dropped here: the foreign side closes it
        }
        let mut evicted = Vec::new();
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((old_tick, old, old_bytes)) = inner
                .entries
                .insert(instance.clone(), (tick, generator, bytes))
            {
                inner.by_age.remove(&old_tick);
                inner.bytes -= old_bytes;
                evicted.push(old);
            }
            inner.by_age.insert(tick, instance);
            inner.bytes += bytes;
            while inner.entries.len() > self.capacity || inner.bytes > MAX_BYTES {
                let Some((_, oldest)) = inner.by_age.pop_first() else {
                    break;
                };
                if let Some((_, generator, bytes)) = inner.entries.remove(&oldest) {
                    inner.bytes -= bytes;
                    evicted.push(generator);
                }
            }
        }
        self.evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        drop(evicted); // outside the lock: dropping calls into the foreign side
    }

    /// Drops every cached generator (at shutdown).
    pub fn clear(&self) {
        let all: Vec<Generator> = {
            let mut inner = self.lock();
            inner.by_age.clear();
            inner.bytes = 0;
            inner.entries.drain().map(|(_, (_, g, _))| g).collect()
        };
        drop(all);
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}
