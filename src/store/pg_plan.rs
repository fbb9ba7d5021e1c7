//! Planner hints for the PostgreSQL provider's orchestration fetch.
//!
//! `fetch_orchestration_item` (the provider's stored function) finds the next instance
//! with `... ORDER BY visible_at, id LIMIT 1` over the queue joined with `instances` and
//! `executions` for the version filter. PostgreSQL underestimates how many queued rows pass
//! that filter (they are NULL-extended for new instances), so it reads and joins the whole
//! queue and sorts it, for every fetch: the cost of a fetch grows with the backlog (1.7 ms
//! with 1,000 queued, most of the server's time in a burst). With an index in that order
//! and sorting made unattractive inside that one function, the plan walks the queue in
//! order and stops at the first unlocked row. Same query, same result; only the plan
//! changes (docs/performance.md, "Side by side with the original SDK").
//!
//! Applied on every connect, idempotently, after the provider's own migrations (a later
//! migration that re-creates the function drops the setting; the next connect puts it
//! back). A failure (no privilege on a schema someone else owns, two processes starting
//! at once) leaves the provider as it was and is logged, never fatal.

use duroxide_pg_opt::PostgresProvider;

const INDEX: &str = "idx_orch_visible_id";

/// The statements that install the hints in `schema` (already validated by the caller):
/// the index, and the setting on every overload of the function that lacks it.
fn statements(schema: &str) -> [String; 2] {
    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
    let literal = schema.replace('\'', "''");
    [
        format!(
            "CREATE INDEX IF NOT EXISTS {INDEX} ON {quoted}.orchestrator_queue (visible_at, id)"
        ),
        format!(
            "DO $hint$ DECLARE f regprocedure; BEGIN
               FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = '{literal}' AND p.proname = 'fetch_orchestration_item'
                          AND NOT coalesce(p.proconfig, '{{}}') @> ARRAY['enable_sort=off']
               LOOP
                 EXECUTE format('ALTER FUNCTION %s SET enable_sort = off', f);
               END LOOP;
             END $hint$"
        ),
    ]
}

/// Installs the hints in one transaction; returns what went wrong, if anything (for the
/// log). The index is created only when missing: `CREATE INDEX IF NOT EXISTS` would still
/// lock the queue against writers for a moment at every connect of every process. Waiting
/// for a lock is bounded, so a busy queue delays a connect by at most `lock_timeout`.
pub async fn apply(provider: &PostgresProvider) -> Option<String> {
    let schema = provider.schema_name();
    let [index, hint] = statements(schema);
    let installed: Result<(), sqlx::Error> = async {
        let mut tx = provider.pool().begin().await?;
        sqlx::query("SET LOCAL lock_timeout = '2s'")
            .execute(&mut *tx)
            .await?;
        let present: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = $2)",
        )
        .bind(schema)
        .bind(INDEX)
        .fetch_one(&mut *tx)
        .await?;
        if !present {
            sqlx::query(&index).execute(&mut *tx).await?;
        }
        sqlx::query(&hint).execute(&mut *tx).await?;
        tx.commit().await
    }
    .await;
    installed.err().map(|error| {
        format!(
            "could not tune the orchestration fetch's plan in schema {schema:?} ({error}); \
             fetches stay correct but cost more as the queue grows"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn quotes_the_schema_in_both_statements() {
        let [index, hint] = statements("we\"ird'name");
        assert!(index.contains("\"we\"\"ird'name\".orchestrator_queue"));
        assert!(hint.contains("n.nspname = 'we\"ird''name'"));
    }
}
