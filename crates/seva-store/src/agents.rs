//! Agents (users), their login sessions and API tokens. Secrets are stored only as hashes:
//! passwords as argon2id (hashed by the caller, which owns the cost settings), session and
//! API tokens as SHA-256 (they are long random values, so a fast hash is enough).

use serde::Serialize;
use seva_core::agent::Role;
use seva_core::time::Timestamp;
use seva_core::{AgentId, TeamId, TokenId};

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: AgentId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub language: String,
    pub disabled: bool,
    pub teams: Vec<TeamId>,
    /// Whether they log in with a code from an authenticator app after the password.
    pub two_step: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[serde(skip)]
    pub must_change_password: bool,
    pub created_at: Timestamp,
}

impl Agent {
    /// The agent as the conversation store checks what they may see.
    pub fn viewer(&self) -> crate::conversations::Viewer {
        crate::conversations::Viewer {
            agent_id: self.id,
            role: self.role,
            teams: self.teams.clone(),
        }
    }
}

pub struct NewAgent<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub language: &'a str,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
}

/// The agent's columns, their team ids joined by commas, and whether two-step verification
/// is on: one query per agent, because every authenticated request reads one.
fn columns(conn: &dyn Conn) -> &'static str {
    match conn.dialect() {
        crate::Dialect::Sqlite => {
            "a.id, a.email, a.name, a.role, a.language, a.disabled, a.password_hash, a.must_change_password, a.created_at, \
             (SELECT group_concat(team_id, ',') FROM team_members WHERE agent_id = a.id), a.two_step"
        }
        crate::Dialect::Postgres => {
            "a.id, a.email, a.name, a.role, a.language, a.disabled, a.password_hash, a.must_change_password, a.created_at, \
             (SELECT string_agg(team_id, ',' ORDER BY team_id) FROM team_members WHERE agent_id = a.id), a.two_step"
        }
    }
}

fn decode(row: &crate::Row) -> Result<Agent> {
    let id: AgentId = row.parse(0)?;
    let mut teams = row
        .opt_text(9)?
        .unwrap_or_default()
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|_| Error::Decode(format!("team id {t:?}")))
        })
        .collect::<Result<Vec<TeamId>>>()?;
    teams.sort();
    Ok(Agent {
        id,
        email: row.text(1)?,
        name: row.text(2)?,
        role: row.parse(3)?,
        language: row.text(4)?,
        disabled: row.bool(5)?,
        password_hash: row.opt_text(6)?,
        must_change_password: row.bool(7)?,
        created_at: Timestamp(row.int(8)?),
        teams,
        two_step: row.bool(10)?,
    })
}

/// `actor` made them: `agent:<id>`, or `system` from the command line and the first run.
pub async fn create(conn: &mut dyn Conn, new: NewAgent<'_>, actor: &str) -> Result<Agent> {
    let email = seva_core::contact::Email::parse(new.email)
        .map_err(|e| Error::invalid("email", e.0))?
        .identity_key();
    let name = seva_core::contact::clean_name(new.name)
        .ok_or_else(|| Error::invalid("name", "a name is required"))?;
    let id = AgentId::new();
    let inserted = conn
        .execute(
            "INSERT INTO agents (id, email, name, role, language, password_hash, must_change_password, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![id.to_string(), &email, &name, new.role.as_str(), new.language, new.password_hash, new.must_change_password, crate::now().micros()],
        )
        .await;
    match inserted {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!(
                "an agent with email {email} exists"
            )));
        }
        other => other?,
    };
    crate::events::append(
        conn,
        "agent.created",
        None,
        actor,
        serde_json::json!({"agent_id": id, "role": new.role}),
    )
    .await?;
    get(conn, id).await
}

pub async fn get(conn: &mut dyn Conn, id: AgentId) -> Result<Agent> {
    let sql = format!("SELECT {} FROM agents a WHERE a.id = $1", columns(conn));
    let row = conn
        .query_opt(&sql, args![id.to_string()])
        .await?
        .ok_or(Error::NotFound)?;
    decode(&row)
}

pub async fn by_email(conn: &mut dyn Conn, email: &str) -> Result<Option<Agent>> {
    let sql = format!("SELECT {} FROM agents a WHERE a.email = $1", columns(conn));
    match conn
        .query_opt(&sql, args![email.trim().to_lowercase()])
        .await?
    {
        Some(row) => Ok(Some(decode(&row)?)),
        None => Ok(None),
    }
}

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Agent>> {
    let sql = format!(
        "SELECT {} FROM agents a ORDER BY a.name, a.email",
        columns(conn)
    );
    let rows = conn.query(&sql, &[]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(decode(row)?);
    }
    Ok(out)
}

pub async fn count(conn: &mut dyn Conn) -> Result<i64> {
    conn.query_one("SELECT count(*) FROM agents", &[])
        .await?
        .int(0)
}

pub async fn set_disabled(
    conn: &mut dyn Conn,
    id: AgentId,
    disabled: bool,
    actor: &str,
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE agents SET disabled = $1 WHERE id = $2",
            args![disabled, id.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    // A disabled agent is logged out everywhere and its tokens stop working at once.
    if disabled {
        conn.execute(
            "DELETE FROM sessions WHERE agent_id = $1",
            args![id.to_string()],
        )
        .await?;
        conn.execute(
            "UPDATE api_tokens SET revoked_at = $1 WHERE agent_id = $2 AND revoked_at IS NULL",
            args![crate::now().micros(), id.to_string()],
        )
        .await?;
    }
    crate::events::append(
        conn,
        if disabled {
            "agent.disabled"
        } else {
            "agent.enabled"
        },
        None,
        actor,
        serde_json::json!({"agent_id": id}),
    )
    .await
}

pub async fn set_password(conn: &mut dyn Conn, id: AgentId, password_hash: String) -> Result<()> {
    conn.execute(
        "UPDATE agents SET password_hash = $1, must_change_password = 0 WHERE id = $2",
        args![password_hash, id.to_string()],
    )
    .await?;
    Ok(())
}

/// Gives an agent a one-time password (they must choose their own at the next login) and
/// ends their sessions: for an agent who forgot theirs, or whose password may be known.
pub async fn reset_password(
    conn: &mut dyn Conn,
    id: AgentId,
    password_hash: String,
    actor: &str,
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE agents SET password_hash = $1, must_change_password = 1 WHERE id = $2",
            args![password_hash, id.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    conn.execute(
        "DELETE FROM sessions WHERE agent_id = $1",
        args![id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "agent.password_reset",
        None,
        actor,
        serde_json::json!({"agent_id": id}),
    )
    .await
}

pub async fn set_language(conn: &mut dyn Conn, id: AgentId, language: &str) -> Result<()> {
    conn.execute(
        "UPDATE agents SET language = $1 WHERE id = $2",
        args![language, id.to_string()],
    )
    .await?;
    Ok(())
}

// --- sessions -------------------------------------------------------------------------

pub struct Session {
    pub agent: Agent,
    pub csrf: String,
}

/// Where a login came from: the browser's own description of itself (cut to 200
/// characters) and the address it connected from.
pub struct Device<'a> {
    pub user_agent: &'a str,
    pub ip: &'a str,
}

pub async fn create_session(
    conn: &mut dyn Conn,
    agent: AgentId,
    token_hash: &str,
    csrf: &str,
    expires_at: Timestamp,
    device: Device<'_>,
) -> Result<()> {
    let user_agent: String = device.user_agent.chars().take(200).collect();
    conn.execute(
        "INSERT INTO sessions (token_hash, agent_id, csrf, created_at, expires_at, user_agent, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            token_hash,
            agent.to_string(),
            csrf,
            crate::now().micros(),
            expires_at.micros(),
            user_agent,
            device.ip
        ],
    )
    .await?;
    Ok(())
}

/// One of an agent's logins, as they see it under Settings.
pub struct SessionLine {
    pub created_at: Timestamp,
    pub user_agent: String,
    pub ip: String,
    /// The one the agent is looking from.
    pub current: bool,
}

/// An agent's logins that have not expired, newest first; `current_hash` marks the one
/// they are using.
pub async fn sessions_of(
    conn: &mut dyn Conn,
    id: AgentId,
    current_hash: &str,
) -> Result<Vec<SessionLine>> {
    let rows = conn
        .query(
            "SELECT created_at, user_agent, ip, token_hash FROM sessions \
             WHERE agent_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
            args![id.to_string(), crate::now().micros()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SessionLine {
                created_at: Timestamp(r.int(0)?),
                user_agent: r.text(1)?,
                ip: r.text(2)?,
                current: r.str(3)? == current_hash,
            })
        })
        .collect()
}

pub async fn session(conn: &mut dyn Conn, token_hash: &str) -> Result<Option<Session>> {
    let row = conn
        .query_opt(
            "SELECT s.agent_id, s.csrf FROM sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.disabled = 0",
            args![token_hash, crate::now().micros()],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let agent = get(conn, row.parse(0)?).await?;
    Ok(Some(Session {
        agent,
        csrf: row.text(1)?,
    }))
}

pub async fn end_session(conn: &mut dyn Conn, token_hash: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM sessions WHERE token_hash = $1",
        args![token_hash],
    )
    .await?;
    Ok(())
}

/// The groups of notifications ([`crate::notifications::EMAIL_GROUPS`]) the agent is
/// mailed about, while their mail is on.
pub async fn email_groups(conn: &mut dyn Conn, id: AgentId) -> Result<Vec<&'static str>> {
    let muted = conn
        .query_one(
            "SELECT email_muted FROM agents WHERE id = $1",
            args![id.to_string()],
        )
        .await?
        .text(0)?;
    Ok(crate::notifications::EMAIL_GROUPS
        .iter()
        .copied()
        .filter(|g| !muted.split(',').any(|m| m == *g))
        .collect())
}

/// Sets the groups the agent is mailed about; a group Seva does not know is refused.
pub async fn set_email_groups(conn: &mut dyn Conn, id: AgentId, groups: &[String]) -> Result<()> {
    if let Some(unknown) = groups
        .iter()
        .find(|g| !crate::notifications::EMAIL_GROUPS.contains(&g.as_str()))
    {
        return Err(Error::invalid(
            "email_kinds",
            format!(
                "{unknown:?} is not one of {}",
                crate::notifications::EMAIL_GROUPS.join(", ")
            ),
        ));
    }
    let muted: Vec<&str> = crate::notifications::EMAIL_GROUPS
        .iter()
        .copied()
        .filter(|g| !groups.iter().any(|x| x == g))
        .collect();
    conn.execute(
        "UPDATE agents SET email_muted = $1 WHERE id = $2",
        args![muted.join(","), id.to_string()],
    )
    .await?;
    Ok(())
}

// --- two-step verification ------------------------------------------------------------

/// An agent's authenticator key (sealed by the caller), whether it is on, and the last time
/// step whose code was accepted.
pub struct TwoStep {
    pub sealed_key: Option<String>,
    pub on: bool,
    pub last_step: Option<i64>,
    /// Recovery codes not used yet.
    pub codes_left: i64,
}

pub async fn two_step(conn: &mut dyn Conn, id: AgentId) -> Result<TwoStep> {
    let row = conn
        .query_opt(
            "SELECT totp_key, two_step, totp_last_step, \
             (SELECT count(*) FROM recovery_codes WHERE agent_id = a.id AND used_at IS NULL) \
             FROM agents a WHERE id = $1",
            args![id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    Ok(TwoStep {
        sealed_key: row.opt_text(0)?,
        on: row.bool(1)?,
        last_step: row.opt_int(2)?,
        codes_left: row.int(3)?,
    })
}

/// Keeps a new key while the agent sets their app up; it is not asked for until
/// [`turn_on_two_step`]. Refused while two-step verification is on.
pub async fn offer_two_step(conn: &mut dyn Conn, id: AgentId, sealed_key: &str) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE agents SET totp_key = $1, totp_last_step = NULL WHERE id = $2 AND two_step = 0",
            args![sealed_key, id.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::Conflict(
            "two-step verification is on already".into(),
        ));
    }
    Ok(())
}

/// Turns two-step verification on with the key offered, once the agent's app gave a right
/// code (for `step`), and keeps the hashes of their new recovery codes.
pub async fn turn_on_two_step(
    conn: &mut dyn Conn,
    id: AgentId,
    step: i64,
    code_hashes: &[String],
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE agents SET two_step = 1, totp_last_step = $1 \
             WHERE id = $2 AND two_step = 0 AND totp_key IS NOT NULL",
            args![step, id.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::Conflict(
            "two-step verification is on already".into(),
        ));
    }
    new_recovery_codes(conn, id, code_hashes).await?;
    crate::events::append(
        conn,
        "agent.two_step_on",
        None,
        &format!("agent:{id}"),
        serde_json::json!({"agent_id": id}),
    )
    .await
}

/// Replaces an agent's recovery codes.
pub async fn new_recovery_codes(
    conn: &mut dyn Conn,
    id: AgentId,
    code_hashes: &[String],
) -> Result<()> {
    conn.execute(
        "DELETE FROM recovery_codes WHERE agent_id = $1",
        args![id.to_string()],
    )
    .await?;
    for hash in code_hashes {
        conn.execute(
            "INSERT INTO recovery_codes (agent_id, code_hash) VALUES ($1, $2)",
            args![id.to_string(), hash],
        )
        .await?;
    }
    Ok(())
}

/// Takes the code of `step` as used: false when that step or a later one was used already,
/// so that a code is good once.
pub async fn use_step(conn: &mut dyn Conn, id: AgentId, step: i64) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE agents SET totp_last_step = $1 \
             WHERE id = $2 AND two_step = 1 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            args![step, id.to_string()],
        )
        .await?;
    Ok(n == 1)
}

/// Takes a recovery code as used: false when it is not one of the agent's unused codes.
pub async fn use_recovery_code(conn: &mut dyn Conn, id: AgentId, code_hash: &str) -> Result<bool> {
    let n = conn
        .execute(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE agent_id = $2 AND code_hash = $3 AND used_at IS NULL",
            args![crate::now().micros(), id.to_string(), code_hash],
        )
        .await?;
    Ok(n == 1)
}

/// Turns two-step verification off: the key and the recovery codes are forgotten. `actor`
/// is the agent themselves or the admin who did it for them (a lost phone).
pub async fn turn_off_two_step(conn: &mut dyn Conn, id: AgentId, actor: &str) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE agents SET two_step = 0, totp_key = NULL, totp_last_step = NULL WHERE id = $1",
            args![id.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    conn.execute(
        "DELETE FROM recovery_codes WHERE agent_id = $1",
        args![id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "agent.two_step_off",
        None,
        actor,
        serde_json::json!({"agent_id": id}),
    )
    .await
}

/// Ends every session of an agent but the one whose token hash is given (after they
/// changed their password, the other browsers must log in again).
pub async fn end_other_sessions(conn: &mut dyn Conn, id: AgentId, keep_hash: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM sessions WHERE agent_id = $1 AND token_hash <> $2",
        args![id.to_string(), keep_hash],
    )
    .await?;
    Ok(())
}

// --- API tokens -----------------------------------------------------------------------

/// An API token as admins see it: its name and whose it is, never the secret nor its hash.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    pub id: TokenId,
    /// What it is for ("CRM sync"), as the admin who made it named it.
    pub name: String,
    /// The agent it acts as.
    pub agent_id: AgentId,
    pub agent_name: String,
    pub created_at: Timestamp,
    /// When it was last used, to within [`TOKEN_USE_EVERY`]; none if never.
    pub last_used_at: Option<Timestamp>,
    /// Revoked tokens are kept, and listed, so that what a token did stays explained.
    pub revoked_at: Option<Timestamp>,
}

/// The longest token name.
pub const TOKEN_NAME_MAX: usize = 100;

/// A token's last use is written at most this often: a script calling many times a second
/// costs one small write a minute, not one per call.
pub const TOKEN_USE_EVERY: i64 = 60;

const TOKEN_COLUMNS: &str =
    "t.id, t.name, t.agent_id, a.name, t.created_at, t.last_used_at, t.revoked_at";

fn decode_token(r: &crate::Row) -> Result<Token> {
    Ok(Token {
        id: r.parse(0)?,
        name: r.text(1)?,
        agent_id: r.parse(2)?,
        agent_name: r.text(3)?,
        created_at: Timestamp(r.int(4)?),
        last_used_at: r.opt_int(5)?.map(Timestamp),
        revoked_at: r.opt_int(6)?.map(Timestamp),
    })
}

/// Makes a token for `agent`, stored as `token_hash`; `actor` made it (`agent:<id>`, or
/// `system` from the command line). The name is trimmed; it must not be empty or longer
/// than [`TOKEN_NAME_MAX`] characters, and the agent must be active.
pub async fn create_token(
    conn: &mut dyn Conn,
    agent: AgentId,
    name: &str,
    token_hash: &str,
    actor: &str,
) -> Result<Token> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > TOKEN_NAME_MAX {
        return Err(Error::invalid(
            "name",
            format!("a token's name has 1 to {TOKEN_NAME_MAX} characters"),
        ));
    }
    let holder = match get(conn, agent).await {
        Ok(holder) => holder,
        Err(Error::NotFound) => return Err(Error::invalid("agent_id", "no such agent")),
        Err(e) => return Err(e),
    };
    if holder.disabled {
        return Err(Error::invalid(
            "agent_id",
            "the agent is disabled; enable them first",
        ));
    }
    let id = TokenId::new();
    conn.execute(
        "INSERT INTO api_tokens (id, agent_id, token_hash, name, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![id.to_string(), agent.to_string(), token_hash, name, crate::now().micros()],
    )
    .await?;
    crate::events::append(
        conn,
        "token.created",
        None,
        actor,
        serde_json::json!({"token_id": id, "agent_id": agent, "name": name}),
    )
    .await?;
    get_token(conn, id).await
}

pub async fn get_token(conn: &mut dyn Conn, id: TokenId) -> Result<Token> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN agents a ON a.id = t.agent_id WHERE t.id = $1"
    );
    let row = conn
        .query_opt(&sql, args![id.to_string()])
        .await?
        .ok_or(Error::NotFound)?;
    decode_token(&row)
}

/// Every token, working ones first, newest first within each.
pub async fn list_tokens(conn: &mut dyn Conn) -> Result<Vec<Token>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN agents a ON a.id = t.agent_id \
         ORDER BY (t.revoked_at IS NULL) DESC, t.created_at DESC, t.id DESC"
    );
    let rows = conn.query(&sql, &[]).await?;
    rows.iter().map(decode_token).collect()
}

/// Revokes a token (`actor` as for [`create_token`]): it stops working at once. Revoking a
/// revoked token changes nothing.
pub async fn revoke_token(conn: &mut dyn Conn, id: TokenId, actor: &str) -> Result<Token> {
    let token = get_token(conn, id).await?;
    if token.revoked_at.is_some() {
        return Ok(token);
    }
    conn.execute(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "token.revoked",
        None,
        actor,
        serde_json::json!({"token_id": id, "agent_id": token.agent_id}),
    )
    .await?;
    get_token(conn, id).await
}

/// The agent a working token acts as, with when the token was last used (see
/// [`token_used`]).
pub async fn by_token(
    conn: &mut dyn Conn,
    token_hash: &str,
) -> Result<Option<(Agent, Option<Timestamp>)>> {
    let sql = format!(
        "SELECT {}, t.last_used_at FROM api_tokens t JOIN agents a ON a.id = t.agent_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND a.disabled = 0",
        columns(conn)
    );
    let Some(row) = conn.query_opt(&sql, args![token_hash]).await? else {
        return Ok(None);
    };
    Ok(Some((decode(&row)?, row.opt_int(11)?.map(Timestamp))))
}

/// Notes that a token was used now, unless that was noted less than [`TOKEN_USE_EVERY`]
/// seconds ago. Bookkeeping, not a change of the desk: no event.
pub async fn token_used(conn: &mut dyn Conn, token_hash: &str) -> Result<()> {
    let now = crate::now();
    conn.execute(
        "UPDATE api_tokens SET last_used_at = $1 \
         WHERE token_hash = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        args![
            now.micros(),
            token_hash,
            now.plus_seconds(-TOKEN_USE_EVERY).micros()
        ],
    )
    .await?;
    Ok(())
}

/// The text added under an agent's emailed replies.
pub async fn signature(conn: &mut dyn Conn, id: AgentId) -> Result<String> {
    conn.query_one(
        "SELECT signature FROM agents WHERE id = $1",
        args![id.to_string()],
    )
    .await?
    .text(0)
}

pub async fn set_signature(conn: &mut dyn Conn, id: AgentId, signature: &str) -> Result<()> {
    if signature.len() > 4000 {
        return Err(Error::invalid(
            "signature",
            "a signature has at most 4000 bytes",
        ));
    }
    conn.execute(
        "UPDATE agents SET signature = $1 WHERE id = $2",
        args![signature.trim_end(), id.to_string()],
    )
    .await?;
    Ok(())
}

/// Whether the agent is sent, by email, the notifications they leave unread for a few
/// minutes.
pub async fn email_notifications(conn: &mut dyn Conn, id: AgentId) -> Result<bool> {
    conn.query_one(
        "SELECT email_notifications FROM agents WHERE id = $1",
        args![id.to_string()],
    )
    .await?
    .bool(0)
}

pub async fn set_email_notifications(conn: &mut dyn Conn, id: AgentId, on: bool) -> Result<()> {
    conn.execute(
        "UPDATE agents SET email_notifications = $1 WHERE id = $2",
        args![on, id.to_string()],
    )
    .await?;
    Ok(())
}

/// Keeps a password-reset link's token (as its SHA-256) for the agent, until `expires`.
pub async fn create_reset(
    conn: &mut dyn Conn,
    id: AgentId,
    token_hash: &str,
    expires: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO password_resets (token_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        args![token_hash, id.to_string(), crate::now().micros(), expires.micros()],
    )
    .await?;
    Ok(())
}

/// The agent a reset link is for, while it is unused, unexpired and its agent enabled.
pub async fn reset_agent(conn: &mut dyn Conn, token_hash: &str) -> Result<Option<AgentId>> {
    conn.query_opt(
        "SELECT r.agent_id FROM password_resets r JOIN agents a ON a.id = r.agent_id \
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND a.disabled = 0",
        args![token_hash, crate::now().micros()],
    )
    .await?
    .map(|r| r.parse(0))
    .transpose()
}

/// Uses a reset link: the agent's new password, every other link of theirs spent, and
/// their sessions ended (whoever knew the old password is logged out). A link that is
/// used, expired or unknown is refused as `token`, and nothing changes.
pub async fn reset_with_link(
    conn: &mut dyn Conn,
    token_hash: &str,
    password_hash: String,
) -> Result<AgentId> {
    let id = reset_agent(conn, token_hash)
        .await?
        .ok_or_else(|| Error::invalid("token", "this link is used or expired"))?;
    let now = crate::now().micros();
    conn.execute(
        "UPDATE password_resets SET used_at = $1 WHERE agent_id = $2 AND used_at IS NULL",
        args![now, id.to_string()],
    )
    .await?;
    set_password(conn, id, password_hash).await?;
    conn.execute(
        "DELETE FROM sessions WHERE agent_id = $1",
        args![id.to_string()],
    )
    .await?;
    Ok(id)
}
