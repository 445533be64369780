//! Schema migrations, embedded in the binary and applied in order at start-up. Each runs in
//! its own transaction and is recorded in `schema_migrations`, so a start-up that dies
//! half-way leaves the database at a known version.

use crate::Result;

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_core.sql")),
    (2, include_str!("../migrations/sqlite/0002_email.sql")),
    (3, include_str!("../migrations/sqlite/0003_sla.sql")),
    (4, include_str!("../migrations/sqlite/0004_routing.sql")),
    (5, include_str!("../migrations/sqlite/0005_rules.sql")),
    (6, include_str!("../migrations/sqlite/0006_webhooks.sql")),
    (7, include_str!("../migrations/sqlite/0007_agent_tools.sql")),
    (
        8,
        include_str!("../migrations/sqlite/0008_capacity_and_hours.sql"),
    ),
    (9, include_str!("../migrations/sqlite/0009_chat.sql")),
    (10, include_str!("../migrations/sqlite/0010_knowledge.sql")),
    (
        11,
        include_str!("../migrations/sqlite/0011_no_insert_trigger.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_contact_name_key.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_organization_members.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_notification_mail.sql"),
    ),
    (
        15,
        include_str!("../migrations/sqlite/0015_password_resets.sql"),
    ),
    (
        16,
        include_str!("../migrations/sqlite/0016_blocked_contacts.sql"),
    ),
    (
        17,
        include_str!("../migrations/sqlite/0017_close_solved.sql"),
    ),
    (
        18,
        include_str!("../migrations/sqlite/0018_token_last_used.sql"),
    ),
    (19, include_str!("../migrations/sqlite/0019_two_step.sql")),
    (
        20,
        include_str!("../migrations/sqlite/0020_email_muted.sql"),
    ),
    (21, include_str!("../migrations/sqlite/0021_audit_log.sql")),
    (
        22,
        include_str!("../migrations/sqlite/0022_session_devices.sql"),
    ),
    (23, include_str!("../migrations/sqlite/0023_erasure.sql")),
    (
        24,
        include_str!("../migrations/sqlite/0024_redacted_messages.sql"),
    ),
    (
        25,
        include_str!("../migrations/sqlite/0025_idempotency_expiry.sql"),
    ),
    (26, include_str!("../migrations/sqlite/0026_retention.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_core.sql")),
    (2, include_str!("../migrations/postgres/0002_email.sql")),
    (3, include_str!("../migrations/postgres/0003_sla.sql")),
    (4, include_str!("../migrations/postgres/0004_routing.sql")),
    (5, include_str!("../migrations/postgres/0005_rules.sql")),
    (6, include_str!("../migrations/postgres/0006_webhooks.sql")),
    (
        7,
        include_str!("../migrations/postgres/0007_agent_tools.sql"),
    ),
    (
        8,
        include_str!("../migrations/postgres/0008_capacity_and_hours.sql"),
    ),
    (9, include_str!("../migrations/postgres/0009_chat.sql")),
    (
        10,
        include_str!("../migrations/postgres/0010_knowledge.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_no_insert_trigger.sql"),
    ),
    (
        12,
        include_str!("../migrations/postgres/0012_contact_name_key.sql"),
    ),
    (
        13,
        include_str!("../migrations/postgres/0013_organization_members.sql"),
    ),
    (
        14,
        include_str!("../migrations/postgres/0014_notification_mail.sql"),
    ),
    (
        15,
        include_str!("../migrations/postgres/0015_password_resets.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_blocked_contacts.sql"),
    ),
    (
        17,
        include_str!("../migrations/postgres/0017_close_solved.sql"),
    ),
    (
        18,
        include_str!("../migrations/postgres/0018_token_last_used.sql"),
    ),
    (19, include_str!("../migrations/postgres/0019_two_step.sql")),
    (
        20,
        include_str!("../migrations/postgres/0020_email_muted.sql"),
    ),
    (
        21,
        include_str!("../migrations/postgres/0021_audit_log.sql"),
    ),
    (
        22,
        include_str!("../migrations/postgres/0022_session_devices.sql"),
    ),
    (23, include_str!("../migrations/postgres/0023_erasure.sql")),
    (
        24,
        include_str!("../migrations/postgres/0024_redacted_messages.sql"),
    ),
    (
        25,
        include_str!("../migrations/postgres/0025_idempotency_expiry.sql"),
    ),
    (
        26,
        include_str!("../migrations/postgres/0026_retention.sql"),
    ),
];

/// The migration that adds `contacts.name_key`, which SQL cannot fill: the runner folds
/// every contact's name in Rust, in the migration's transaction.
const NAME_KEY: i64 = 12;

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

pub fn run_sqlite(conn: &mut rusqlite::Connection) -> Result<()> {
    conn.execute_batch(LEDGER)?;
    for &(version, sql) in SQLITE {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: i64 = tx.query_row(
            "SELECT count(*) FROM schema_migrations WHERE version = ?1",
            [version],
            |r| r.get(0),
        )?;
        if done == 0 {
            tracing::info!(version, "applying migration");
            tx.execute_batch(sql)?;
            if version == NAME_KEY {
                let names: Vec<(String, String)> = tx
                    .prepare("SELECT id, name FROM contacts")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut set = tx.prepare("UPDATE contacts SET name_key = ?1 WHERE id = ?2")?;
                for (id, name) in names {
                    set.execute([seva_core::text::fold(&name), id])?;
                }
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                [version, crate::now().micros()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

pub async fn run_postgres(client: &mut tokio_postgres::Client) -> Result<()> {
    client.batch_execute(LEDGER).await?;
    for &(version, sql) in POSTGRES {
        let tx = client.transaction().await?;
        // Two nodes starting at once: the lock makes the second wait, then see it done.
        tx.batch_execute("SELECT pg_advisory_xact_lock(7365766101)")
            .await?;
        let done: i64 = tx
            .query_one(
                "SELECT count(*) FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await?
            .get(0);
        if done == 0 {
            tracing::info!(version, "applying migration");
            tx.batch_execute(sql).await?;
            if version == NAME_KEY {
                let set = tx
                    .prepare("UPDATE contacts SET name_key = $1 WHERE id = $2")
                    .await?;
                for row in tx.query("SELECT id, name FROM contacts", &[]).await? {
                    let (id, name): (String, String) = (row.get(0), row.get(1));
                    tx.execute(&set, &[&seva_core::text::fold(&name), &id])
                        .await?;
                }
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&version, &crate::now().micros()],
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
