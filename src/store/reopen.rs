//! A SQLite file after a storage failure: the store carries on with a fresh pool.
//!
//! When SQLite fails a transaction with a full disk or an I/O error it may roll the
//! transaction back by itself. sqlx does not notice: its ROLLBACK then fails, it still
//! counts the connection as inside a transaction, and the next "transaction" on that
//! pooled connection begins with a SAVEPOINT that a rollback never ends. From then on the
//! connection lives in one transaction that is never committed: it reads a frozen snapshot
//! (new work is invisible: the runtime stalls) and its writes report success and vanish
//! when it closes (starts a client was told were stored are lost). So after such a failure
//! the store stops using the pool at once, closes its connections and opens the file
//! again, and the work they pretended to commit is retried by the callers
//! (every failed call is retryable). Writing calls take turns (`retry::Access::Write`), so
//! no other write can meet the broken connection before the switch.
//!
//! The file itself is watched too: deleted or replaced under a running store, SQLite would
//! go on writing to the unlinked file, which nobody else sees and which is gone when the
//! process ends. The store notices within `WATCH_INTERVAL`, fails calls with a clear error
//! until a database is back at the path, then opens that one (never creating an empty one).
//!
//! While the condition lasts, each failing write may break the fresh pool again, so a
//! poisoned store reopens at most once per `REOPEN_INTERVAL` and fails calls in between
//! (retryably: nothing is recorded as an instance's failure). Old providers are kept until
//! the store drops (their pools closed): references the core holds into them
//! (`as_management_capability`) stay valid. After `MAX_REOPENS` the store stops reopening
//! and keeps failing calls retryably, asking for a restart.

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use duroxide::providers::{Provider, ProviderError};

/// Opens the database file again: a new provider and its pool.
pub type Opener = Box<
    dyn Fn() -> Pin<
            Box<dyn Future<Output = Result<(Arc<dyn Provider>, sqlx::SqlitePool), String>> + Send>,
        > + Send
        + Sync,
>;

const CHUNK: usize = 64;
const CHUNKS: usize = 16;
const MAX_REOPENS: usize = CHUNK * CHUNKS - 1;
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How long a reopen waits for the old pool's connections to be returned and closed.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A database file and the identity (device, inode) of the one the store has open.
pub struct Watched {
    path: PathBuf,
    identity: Mutex<Option<(u64, u64)>>,
    checked: Mutex<Instant>,
    gone: AtomicBool,
}

impl Watched {
    pub fn new(path: PathBuf) -> Self {
        let identity = identity_of(&path);
        Self {
            path,
            identity: Mutex::new(identity),
            checked: Mutex::new(Instant::now()),
            gone: AtomicBool::new(false),
        }
    }
}

fn identity_of(path: &std::path::Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

type Slot = (Arc<dyn Provider>, Option<sqlx::SqlitePool>);

/// The providers a store has used, the last one current (in chunks allocated as needed:
/// a slot never moves once set).
pub struct Generations {
    chunks: Vec<OnceLock<Vec<OnceLock<Slot>>>>,
    current: AtomicUsize,
    opener: Option<Opener>,
    poisoned: AtomicBool,
    reopening: tokio::sync::Mutex<()>,
    last_reopen: Mutex<Option<Instant>>,
    watched: Option<Watched>,
}

fn chunk() -> Vec<OnceLock<Slot>> {
    (0..CHUNK).map(|_| OnceLock::new()).collect()
}

impl Generations {
    pub fn new(
        first: Arc<dyn Provider>,
        pool: Option<sqlx::SqlitePool>,
        opener: Option<Opener>,
        watched: Option<Watched>,
    ) -> Self {
        let chunks: Vec<OnceLock<Vec<OnceLock<Slot>>>> =
            (0..CHUNKS).map(|_| OnceLock::new()).collect();
        let generations = Self {
            chunks,
            current: AtomicUsize::new(0),
            opener,
            poisoned: AtomicBool::new(false),
            reopening: tokio::sync::Mutex::new(()),
            last_reopen: Mutex::new(None),
            watched,
        };
        let _ = generations.cell(0).set((first, pool));
        generations
    }

    fn cell(&self, index: usize) -> &OnceLock<Slot> {
        &self.chunks[index / CHUNK].get_or_init(chunk)[index % CHUNK]
    }

    fn slot(&self) -> &Slot {
        let index = self.current.load(Ordering::Acquire);
        self.cell(index)
            .get()
            .expect("the current generation is always set")
    }

    /// The provider calls go to now.
    pub fn provider(&self) -> &dyn Provider {
        self.slot().0.as_ref()
    }

    /// SQLite: the current provider's pool.
    pub fn pool(&self) -> Option<&sqlx::SqlitePool> {
        self.slot().1.as_ref()
    }

    /// Which provider is current (to tell whether a failure is still news).
    pub fn generation(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }

    /// True when the current pool must not be used until it is replaced (checks, at most
    /// every `WATCH_INTERVAL`, that the file is still the one the pool has open).
    pub fn is_poisoned(&self) -> bool {
        if let Some(watched) = &self.watched {
            self.watch(watched);
        }
        self.poisoned.load(Ordering::Acquire)
    }

    fn watch(&self, watched: &Watched) {
        {
            let mut checked = watched.checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.elapsed() < WATCH_INTERVAL {
                return;
            }
            *checked = Instant::now();
        }
        let now = identity_of(&watched.path);
        let open = *watched.identity.lock().unwrap_or_else(|e| e.into_inner());
        if now != open && !watched.gone.swap(true, Ordering::AcqRel) {
            tracing::error!(
                target: "duroxide::store",
                path = %watched.path.display(),
                "the SQLite database file was deleted or replaced while in use; calls fail until a database is back at this path, then it is opened"
            );
            self.poisoned.store(true, Ordering::Release);
        }
    }

    /// A call on `generation` failed with `error`: when that is a storage failure of a
    /// SQLite file, the pool is poisoned (true). The error is then made retryable.
    pub fn note_failure(&self, generation: usize, error: &mut ProviderError) -> bool {
        if self.opener.is_none() || !is_storage_failure(error) {
            return false;
        }
        if generation == self.generation() {
            self.poisoned.store(true, Ordering::Release);
        }
        error.retryable = true;
        true
    }

    /// Replaces a poisoned pool with a fresh one; an error (retryable) while the file
    /// cannot be opened yet, or when the store reopened too often.
    pub async fn recover(&self) -> Result<(), ProviderError> {
        let _one = self.reopening.lock().await;
        if !self.is_poisoned() {
            return Ok(()); // another call already did
        }
        // Checked here too, not only by the throttled watch: a failure to open a
        // connection may be the first sign of the deletion.
        if let Some(watched) = &self.watched {
            if !watched.path.exists() {
                watched.gone.store(true, Ordering::Release);
                return Err(ProviderError::retryable(
                    "open",
                    format!(
                        "the SQLite database file {} was deleted while in use; put a database back at that path (a backup) or restart with another one",
                        watched.path.display()
                    ),
                ));
            }
        }
        let next = self.generation() + 1;
        let Some(opener) = self.opener.as_ref().filter(|_| next <= MAX_REOPENS) else {
            return Err(ProviderError::retryable(
                "reopen",
                format!(
                    "the SQLite database had {MAX_REOPENS} storage failures; restart the process to use it again"
                ),
            ));
        };
        {
            let mut last = self.last_reopen.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < REOPEN_INTERVAL) {
                return Err(ProviderError::retryable(
                    "reopen",
                    "the SQLite database had a storage failure (a full disk, an I/O error, a read-only file); retrying",
                ));
            }
            *last = Some(Instant::now());
        }
        // The old pool's connections close before the file is opened again: SQLite keys
        // its shared-memory index by the file's inode, so a connection to a replaced file
        // would treat the -shm file as its own, truncate it while the old connections map
        // it (SIGBUS when they touch it), and the old connections' last close deletes the
        // -wal and -shm files by name, the new database's among them.
        let old = self.slot().1.clone();
        if let Some(old) = &old {
            if tokio::time::timeout(CLOSE_WAIT, old.close()).await.is_err() {
                tracing::warn!(
                    target: "duroxide::store",
                    "the old SQLite pool did not close within {CLOSE_WAIT:?}; opening the database again anyway"
                );
            }
        }
        let (provider, pool) = opener().await.map_err(|e| {
            ProviderError::retryable(
                "reopen",
                format!(
                    "the SQLite database cannot be used after a storage failure (retrying): {e}"
                ),
            )
        })?;
        if let Some(watched) = &self.watched {
            *watched.identity.lock().unwrap_or_else(|e| e.into_inner()) =
                identity_of(&watched.path);
            watched.gone.store(false, Ordering::Release);
        }
        let _ = self.cell(next).set((provider, Some(pool)));
        self.current.store(next, Ordering::Release);
        self.poisoned.store(false, Ordering::Release);
        tracing::warn!(
            target: "duroxide::store",
            "reopened the SQLite database after a storage failure (a full disk, an I/O error, a read-only file); calls that failed are retried"
        );
        Ok(())
    }
}

/// SQLite failures that can leave a pooled connection inside a transaction it does not
/// know about (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN, corruption).
pub fn is_storage_failure(error: &ProviderError) -> bool {
    const SIGNS: [&str; 6] = [
        "database or disk is full",
        "disk I/O error",
        "attempt to write a readonly database",
        "unable to open database file",
        "database disk image is malformed",
        "file is not a database",
    ];
    SIGNS.iter().any(|sign| error.message.contains(sign))
}
