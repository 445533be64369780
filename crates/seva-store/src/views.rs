//! Saved views: an agent's list filters under a name, for them alone or shared with
//! everyone ("Urgent in Billing", "VIP waiting on us").

use serde::{Deserialize, Serialize};
use seva_core::conversation::{Priority, Sort, Status};
use seva_core::time::Timestamp;
use seva_core::{AgentId, InboxId, TeamId, ViewId};

use crate::conversations::Filter;
use crate::db::Conn;
use crate::{Error, Result, args};

/// What a saved view selects. `owner` is `me`, `none` or an agent's id; `team` is
/// `none` or a team's id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct ViewFilters {
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
        )
    )]
    pub owner: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^(none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
        )
    )]
    pub team: Option<String>,
    pub tag: Option<String>,
    pub inbox_id: Option<InboxId>,
    /// The view's order (latest activity first when absent).
    pub sort: Option<Sort>,
}

impl ViewFilters {
    /// The list filter for `me`.
    pub fn to_filter(&self, me: AgentId) -> Result<Filter> {
        let owner = match self.owner.as_deref() {
            None => None,
            Some("me") => Some(Some(me)),
            Some("none") => Some(None),
            Some(id) => Some(Some(id.parse().map_err(|_| {
                Error::invalid("filters.owner", "me, none or an agent's id")
            })?)),
        };
        let team = match self.team.as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(id) => {
                Some(Some(id.parse::<TeamId>().map_err(|_| {
                    Error::invalid("filters.team", "none or a team's id")
                })?))
            }
        };
        Ok(Filter {
            statuses: self.statuses.clone(),
            priorities: self.priorities.clone(),
            owner,
            team,
            tag: self.tag.clone(),
            inbox: self.inbox_id,
            sort: self.sort.unwrap_or_default(),
            ..Filter::default()
        })
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct View {
    pub id: ViewId,
    pub agent_id: AgentId,
    pub name: String,
    pub filters: ViewFilters,
    pub shared: bool,
    pub created_at: Timestamp,
}

fn decode(r: &crate::Row) -> Result<View> {
    Ok(View {
        id: r.parse(0)?,
        agent_id: r.parse(1)?,
        name: r.text(2)?,
        filters: serde_json::from_str(&r.text(3)?).map_err(|e| Error::Decode(e.to_string()))?,
        shared: r.bool(4)?,
        created_at: Timestamp(r.int(5)?),
    })
}

const COLUMNS: &str = "id, agent_id, name, filters, shared, created_at";

pub async fn create(
    conn: &mut dyn Conn,
    agent: AgentId,
    name: &str,
    filters: &ViewFilters,
    shared: bool,
) -> Result<View> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "1 to 100 characters"));
    }
    filters.to_filter(agent)?;
    let id = ViewId::new();
    conn.execute(
        "INSERT INTO saved_views (id, agent_id, name, filters, shared, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            id.to_string(),
            agent.to_string(),
            name,
            serde_json::to_string(filters).unwrap_or_default(),
            shared,
            crate::now().micros()
        ],
    )
    .await?;
    get_for(conn, agent, id).await
}

/// A view its author, or anyone when shared, may use.
pub async fn get_for(conn: &mut dyn Conn, agent: AgentId, id: ViewId) -> Result<View> {
    let sql = format!(
        "SELECT {COLUMNS} FROM saved_views WHERE id = $1 AND (agent_id = $2 OR shared = 1)"
    );
    decode(
        &conn
            .query_opt(&sql, args![id.to_string(), agent.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

/// An agent's views and the shared ones, by name.
pub async fn list_for(conn: &mut dyn Conn, agent: AgentId) -> Result<Vec<View>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM saved_views WHERE agent_id = $1 OR shared = 1 ORDER BY name"
    );
    conn.query(&sql, args![agent.to_string()])
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Deletes a view; only its author (or an admin) may.
pub async fn delete(conn: &mut dyn Conn, agent: AgentId, admin: bool, id: ViewId) -> Result<()> {
    let n = conn
        .execute(
            "DELETE FROM saved_views WHERE id = $1 AND (agent_id = $2 OR $3 = 1)",
            args![id.to_string(), agent.to_string(), admin],
        )
        .await?;
    if n == 0 { Err(Error::NotFound) } else { Ok(()) }
}
