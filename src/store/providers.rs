//! Storage backends: SQLite (file or in-memory) and PostgreSQL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::sqlite::SqliteProvider;
use duroxide::providers::Provider as CoreProvider;
use duroxide_pg_opt::PostgresProvider;

use crate::ffi::error::{DuroxideError, Result};
use crate::ffi::executor;
use crate::store::credentials::{self, CredentialSource};
use crate::store::events::StoreEvents;
use crate::store::pg_plan;
use crate::store::pg_url::{host_port, plaintext_on_loopback, redact, refused_plaintext};
use crate::store::reopen::{Opener, Watched};
use crate::store::virtual_time::VirtualTime;
use crate::store::Store;

/// How long opening a database may take before the caller gets an error instead of a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Provider {
    inner: Arc<Store>,
    events: Arc<StoreEvents>,
    kind: &'static str,
}

impl Provider {
    pub fn open_sqlite(path: String) -> Result<Self> {
        if path.trim().is_empty() {
            return Err(DuroxideError::invalid("SQLite path is empty"));
        }
        let file = Path::new(&path);
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(DuroxideError::provider(format!(
                    "cannot create SQLite database {path:?}: directory {} does not exist",
                    parent.display()
                )));
            }
        }
        // sqlx keeps retrying a file it cannot open until its pool timeout (15 s of "no
        // answer"); opening it here first says at once what is wrong (a read-only file
        // system, a directory in the way, no permission).
        if path != ":memory:" {
            check_sqlite_file(file, &path)?;
        }
        // `check_sqlite_file` created the file; the pool must never create it again (a new
        // connection made after the file was deleted would start an empty database there).
        let mode = if path == ":memory:" { "rwc" } else { "rw" };
        let first = format!("sqlite:{path}?mode={mode}");
        let provider =
            connect(async move { SqliteProvider::new(&first, None).await }).map_err(|e| {
                DuroxideError::provider(format!("cannot open SQLite database {path:?}: {e}"))
            })?;
        // After a storage failure the store opens the file again (see `reopen`), never
        // creating it: a deleted database must not come back empty.
        let reopen_url = format!("sqlite:{path}?mode=rw");
        let watched = Watched::new(Path::new(&path).to_path_buf());
        let opener: Opener = Box::new(move || {
            let url = reopen_url.clone();
            Box::pin(async move {
                let provider = SqliteProvider::new(&url, None)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                let pool = provider.get_pool().clone();
                Ok((Arc::new(provider) as Arc<dyn CoreProvider>, pool))
            })
        });
        let reopening = (path != ":memory:").then_some((opener, watched));
        Ok(Self::wrap_sqlite(provider, reopening))
    }

    pub fn sqlite_in_memory() -> Result<Self> {
        let provider = connect(async { SqliteProvider::new_in_memory().await })
            .map_err(|e| DuroxideError::provider(format!("cannot create in-memory SQLite: {e}")))?;
        Ok(Self::wrap_sqlite(provider, None)) // a new in-memory database would be empty
    }

    pub fn connect_postgres(url: String, schema: Option<String>) -> Result<Self> {
        let address = host_port(&url);
        let provider = Self::open_postgres(url, schema)?;
        Ok(Self::wrap(provider, None, "postgres").probing(address))
    }

    /// PostgreSQL with the password `source` gives now, asked again every
    /// `refresh_interval_ms` (see `credentials`).
    pub fn connect_postgres_with_credentials(
        url: String,
        schema: Option<String>,
        source: Box<dyn CredentialSource>,
        refresh_interval_ms: u64,
    ) -> Result<Self> {
        if refresh_interval_ms == 0 {
            return Err(DuroxideError::invalid(
                "refresh interval must be at least 1 ms",
            ));
        }
        let source: Arc<dyn CredentialSource> = Arc::from(source);
        let password = source.password()?;
        let address = host_port(&url);
        let provider = Self::open_postgres(credentials::with_password(&url, &password)?, schema)?;
        credentials::keep_fresh(
            &provider,
            source,
            Duration::from_millis(refresh_interval_ms),
        );
        Ok(Self::wrap(provider, None, "postgres").probing(address))
    }

    fn open_postgres(url: String, schema: Option<String>) -> Result<Arc<PostgresProvider>> {
        if let Some(schema) = &schema {
            validate_schema_name(schema)?;
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(DuroxideError::invalid(format!(
                "not a PostgreSQL URL: {:?} (expected postgresql://user:password@host:port/database)",
                redact(&url)
            )));
        }
        let shown = redact(&url);
        let plaintext = plaintext_on_loopback(&url, std::env::var("PGSSLMODE").ok().as_deref());
        let provider = connect(async move {
            // sqlx retries a refused connection until its pool timeout; probe first so an
            // unreachable server is reported at once.
            if let Some(addr) = host_port(&url) {
                tokio::net::TcpStream::connect(&addr)
                    .await
                    .map_err(|e| format!("cannot reach {addr}: {e}"))?;
            }
            let open = |url: String| {
                let schema = schema.clone();
                async move {
                    PostgresProvider::new_with_schema(&url, schema.as_deref())
                        .await
                        .map_err(|e| format!("{e:#}"))
                }
            };
            // Plaintext first on loopback (see `pg_url`), as written if the server wants TLS.
            let provider = match plaintext {
                Some(plain) => match open(plain).await {
                    Err(e) if refused_plaintext(&e) => open(url).await?,
                    opened => opened?,
                },
                None => open(url).await?,
            };
            if let Some(problem) = pg_plan::apply(&provider).await {
                tracing::warn!(target: "duroxide::store", "{problem}");
            }
            Ok::<_, String>(provider)
        })
        .map_err(|e| {
            DuroxideError::provider(format!("cannot connect to PostgreSQL at {shown}: {e}"))
        })?;
        Ok(Arc::new(provider))
    }

    fn wrap_sqlite(provider: SqliteProvider, opener: Option<(Opener, Watched)>) -> Self {
        let pool = provider.get_pool().clone();
        Self::wrap_with(Arc::new(provider), Some(pool), opener, "sqlite")
    }

    fn wrap(
        store: Arc<dyn CoreProvider>,
        sqlite_pool: Option<sqlx::SqlitePool>,
        kind: &'static str,
    ) -> Self {
        Self::wrap_with(store, sqlite_pool, None, kind)
    }

    fn wrap_with(
        store: Arc<dyn CoreProvider>,
        sqlite_pool: Option<sqlx::SqlitePool>,
        opener: Option<(Opener, Watched)>,
        kind: &'static str,
    ) -> Self {
        let events = Arc::new(StoreEvents::default());
        let inner = Arc::new(Store::new(store, events.clone(), sqlite_pool, opener));
        Self {
            inner,
            events,
            kind,
        }
    }

    /// Slow calls of this store's clients probe `address` (see `reachability`).
    fn probing(self, address: Option<String>) -> Self {
        if let Some(address) = address {
            self.events.set_address(address);
        }
        self
    }

    pub fn kind(&self) -> String {
        self.kind.to_string()
    }

    pub fn core(&self) -> Arc<dyn CoreProvider> {
        self.inner.clone()
    }

    pub fn events(&self) -> Arc<StoreEvents> {
        self.events.clone()
    }

    /// Turns this store's virtual clock on (idempotent): for test kits only.
    pub fn virtual_clock(&self, quiet_ms: u64) -> Arc<VirtualClock> {
        Arc::new(VirtualClock {
            time: self
                .inner
                .virtual_clock(Duration::from_millis(quiet_ms.clamp(1, 60_000))),
        })
    }
}

/// The foreign handle on a store's virtual clock (see `virtual_time`).
pub struct VirtualClock {
    time: Arc<VirtualTime>,
}

impl VirtualClock {
    pub fn now_ms(&self) -> u64 {
        self.time.now_ms()
    }

    pub fn advance(&self, ms: u64) {
        self.time.advance(ms);
    }

    pub fn skip(&self, on: bool) {
        self.time.skip(on);
    }

    pub fn held_timers(&self) -> u64 {
        self.time.held_timers() as u64
    }
}

/// Runs a provider constructor on the shared runtime with a deadline.
fn connect<T, E>(
    fut: impl std::future::Future<Output = std::result::Result<T, E>> + Send + 'static,
) -> std::result::Result<T, String>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    executor::block_on(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        }
    })
}

fn validate_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && schema.len() <= 63 {
        Ok(())
    } else {
        Err(DuroxideError::invalid(format!(
            "invalid PostgreSQL schema name {schema:?}: use letters, digits and '_', starting with a letter or '_', at most 63 characters"
        )))
    }
}

/// The file at `file` can be opened for writing and is empty or a SQLite database.
fn check_sqlite_file(file: &Path, path: &str) -> Result<()> {
    use std::io::Read;
    let mut handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(file)
        .map_err(|e| {
            DuroxideError::provider(format!(
                "cannot open SQLite database {path:?} for writing: {e}"
            ))
        })?;
    let mut header = [0u8; 16];
    let read = handle.read(&mut header).unwrap_or(0);
    if read > 0 && (read < header.len() || &header != b"SQLite format 3\0") {
        return Err(DuroxideError::provider(format!(
            "cannot open SQLite database {path:?}: the file is not a database (or its header is corrupted); \
             restore it from a backup or point to another file"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert!(validate_schema_name("my_schema_1").is_ok());
        assert!(validate_schema_name("x\"; drop table y; --").is_err());
        assert!(validate_schema_name("1abc").is_err());
        assert!(validate_schema_name("").is_err());
    }
}
