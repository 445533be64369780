//! Teams (departments) and who belongs to them.

use serde::Serialize;
use seva_core::time::Timestamp;
use seva_core::{AgentId, TeamId};

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    /// A private team's conversations are seen only by its members, supervisors and admins.
    pub private: bool,
    pub members: Vec<AgentId>,
    pub created_at: Timestamp,
}

async fn decode(conn: &mut dyn Conn, row: &crate::Row) -> Result<Team> {
    let id: TeamId = row.parse(0)?;
    let members = conn
        .query(
            "SELECT agent_id FROM team_members WHERE team_id = $1 ORDER BY agent_id",
            args![id.to_string()],
        )
        .await?
        .iter()
        .map(|r| r.parse(0))
        .collect::<Result<Vec<AgentId>>>()?;
    Ok(Team {
        id,
        name: row.text(1)?,
        private: row.bool(2)?,
        created_at: Timestamp(row.int(3)?),
        members,
    })
}

pub async fn create(conn: &mut dyn Conn, name: &str, private: bool, actor: &str) -> Result<Team> {
    let name = seva_core::contact::clean_name(name)
        .ok_or_else(|| Error::invalid("name", "a team needs a name"))?;
    let id = TeamId::new();
    let r = conn
        .execute(
            "INSERT INTO teams (id, name, private, created_at) VALUES ($1, $2, $3, $4)",
            args![id.to_string(), &name, private, crate::now().micros()],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!("a team named {name} exists")));
        }
        other => other?,
    };
    crate::events::append(
        conn,
        "team.created",
        None,
        actor,
        serde_json::json!({"team_id": id, "name": name}),
    )
    .await?;
    get(conn, id).await
}

pub async fn get(conn: &mut dyn Conn, id: TeamId) -> Result<Team> {
    let row = conn
        .query_opt(
            "SELECT id, name, private, created_at FROM teams WHERE id = $1",
            args![id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    decode(conn, &row).await
}

pub async fn by_name(conn: &mut dyn Conn, name: &str) -> Result<Option<Team>> {
    match conn
        .query_opt(
            "SELECT id, name, private, created_at FROM teams WHERE name = $1",
            args![name.trim()],
        )
        .await?
    {
        Some(row) => Ok(Some(decode(conn, &row).await?)),
        None => Ok(None),
    }
}

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Team>> {
    let rows = conn
        .query(
            "SELECT id, name, private, created_at FROM teams ORDER BY name",
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(decode(conn, row).await?);
    }
    Ok(out)
}

pub async fn add_member(
    conn: &mut dyn Conn,
    team: TeamId,
    agent: AgentId,
    actor: &str,
) -> Result<()> {
    get(conn, team).await?;
    // The team is the object asked about (404); the agent is a field of the request.
    crate::agents::get(conn, agent).await.map_err(|e| match e {
        Error::NotFound => Error::invalid("agent_id", "no such agent"),
        e => e,
    })?;
    conn.execute(
        "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![team.to_string(), agent.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "team.member_added",
        None,
        actor,
        serde_json::json!({"team_id": team, "agent_id": agent}),
    )
    .await
}

/// Takes an agent out of a team; `NotFound` (and nothing logged) when they were not in it.
pub async fn remove_member(
    conn: &mut dyn Conn,
    team: TeamId,
    agent: AgentId,
    actor: &str,
) -> Result<()> {
    let removed = conn
        .execute(
            "DELETE FROM team_members WHERE team_id = $1 AND agent_id = $2",
            args![team.to_string(), agent.to_string()],
        )
        .await?;
    if removed == 0 {
        return Err(Error::NotFound);
    }
    crate::events::append(
        conn,
        "team.member_removed",
        None,
        actor,
        serde_json::json!({"team_id": team, "agent_id": agent}),
    )
    .await
}
