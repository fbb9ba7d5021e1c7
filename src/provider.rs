//! Storage backends: SQLite (file or in-memory) and PostgreSQL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use duroxide::providers::sqlite::SqliteProvider;
use duroxide::providers::Provider as CoreProvider;
use duroxide_pg_opt::PostgresProvider;

use crate::error::{DuroxideError, Result};
use crate::executor;

/// How long opening a database may take before the caller gets an error instead of a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Provider {
    inner: Arc<dyn CoreProvider>,
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
        // sqlx does not create the file by default; `mode=rwc` does.
        let url = format!("sqlite:{path}?mode=rwc");
        let provider =
            connect(async move { SqliteProvider::new(&url, None).await }).map_err(|e| {
                DuroxideError::provider(format!("cannot open SQLite database {path:?}: {e}"))
            })?;
        Ok(Self {
            inner: Arc::new(provider),
            kind: "sqlite",
        })
    }

    pub fn sqlite_in_memory() -> Result<Self> {
        let provider = connect(async { SqliteProvider::new_in_memory().await })
            .map_err(|e| DuroxideError::provider(format!("cannot create in-memory SQLite: {e}")))?;
        Ok(Self {
            inner: Arc::new(provider),
            kind: "sqlite",
        })
    }

    pub fn connect_postgres(url: String, schema: Option<String>) -> Result<Self> {
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
        let provider = connect(async move {
            PostgresProvider::new_with_schema(&url, schema.as_deref())
                .await
                .map_err(|e| format!("{e:#}"))
        })
        .map_err(|e| {
            DuroxideError::provider(format!("cannot connect to PostgreSQL at {shown}: {e}"))
        })?;
        Ok(Self {
            inner: Arc::new(provider),
            kind: "postgres",
        })
    }

    pub fn kind(&self) -> String {
        self.kind.to_string()
    }

    pub fn core(&self) -> Arc<dyn CoreProvider> {
        self.inner.clone()
    }

    /// Identity of the underlying store, shared by every handle cloned from it.
    pub fn store_id(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
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

/// The URL with its password replaced, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}
