//! The answering bot's part in a conversation. While it answers, the conversation is in
//! no team's queue; when the customer asks for a person (or the bot has nothing good
//! enough to offer) it is handed over at once to the team it was meant for, with a note
//! for the agent of what the bot offered and why. Once handed over, or once an agent has
//! answered, the bot never speaks in that conversation again.

use serde::Serialize;
use seva_core::conversation::{Delivery, MessageKind, Status};
use seva_core::{ArticleId, ConversationId, MessageId, TeamId};

use crate::conversations::{self, Conversation};
use crate::db::Conn;
use crate::messages::NewMessage;
use crate::{Result, args};

/// The job that reads a customer's message and answers it.
pub const ANSWER: &str = "bot_answer";
const ACTOR: &str = "bot";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BotState {
    /// `answering`, `offered` (waiting for "did this solve it?"), `handed_off`, `self_served`.
    pub state: String,
    pub team_id: Option<TeamId>,
    pub lang: Option<String>,
    pub rounds: i64,
    /// Why it was handed over.
    pub reason: Option<String>,
}

impl BotState {
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "answering" | "offered")
    }
}

/// The bot takes a new conversation: out of the team's queue until it hands it over.
pub(crate) async fn begin(
    conn: &mut dyn Conn,
    id: ConversationId,
    team: Option<TeamId>,
    lang: Option<&str>,
) -> Result<()> {
    let now = crate::now().micros();
    conn.execute(
        "INSERT INTO bot_conversations (conversation_id, state, team_id, lang, created_at, updated_at) VALUES ($1, 'answering', $2, $3, $4, $4)",
        args![id.to_string(), team.map(|t| t.to_string()), lang, now],
    )
    .await?;
    conn.execute(
        "UPDATE conversations SET team_id = NULL WHERE id = $1",
        args![id.to_string()],
    )
    .await?;
    Ok(())
}

/// After a customer's message: the bot is asked to answer it if it still has the
/// conversation. Returns whether it does.
pub(crate) async fn heard(
    conn: &mut dyn Conn,
    id: ConversationId,
    message: MessageId,
) -> Result<bool> {
    if !state(conn, id).await?.is_some_and(|s| s.is_active()) {
        return Ok(false);
    }
    crate::jobs::enqueue(
        conn,
        ANSWER,
        serde_json::json!({"conversation_id": id, "message_id": message}),
        crate::now(),
    )
    .await?;
    Ok(true)
}

pub async fn state(conn: &mut dyn Conn, id: ConversationId) -> Result<Option<BotState>> {
    let row = conn
        .query_opt(
            "SELECT state, team_id, lang, rounds, reason FROM bot_conversations WHERE conversation_id = $1",
            args![id.to_string()],
        )
        .await?;
    row.map(|r| {
        Ok(BotState {
            state: r.text(0)?,
            team_id: r.opt_parse(1)?,
            lang: r.opt_text(2)?,
            rounds: r.int(3)?,
            reason: r.opt_text(4)?,
        })
    })
    .transpose()
}

/// The articles already offered in a conversation, oldest first.
pub async fn offered(conn: &mut dyn Conn, id: ConversationId) -> Result<Vec<ArticleId>> {
    conn.query(
        "SELECT article_id FROM bot_offers WHERE conversation_id = $1 ORDER BY created_at",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| r.parse(0))
    .collect()
}

/// The bot says something to the customer, on their channel.
async fn say(conn: &mut dyn Conn, c: &Conversation, text: &str) -> Result<MessageId> {
    let message_id = crate::messages::insert(
        conn,
        NewMessage {
            conversation_id: c.id,
            kind: MessageKind::Outbound,
            channel: c.channel,
            author_agent_id: None,
            author_contact_id: None,
            text,
            delivery: Delivery::Queued,
            provider_id: None,
            email: Default::default(),
        },
    )
    .await?
    .id;
    conn.execute(
        "UPDATE conversations SET preview = $1, message_count = message_count + 1, updated_at = $2 WHERE id = $3",
        args![seva_core::text::preview(text, 140), crate::now().micros(), c.id.to_string()],
    )
    .await?;
    crate::jobs::enqueue(
        conn,
        crate::jobs::DELIVER,
        serde_json::json!({"message_id": message_id, "conversation_id": c.id, "channel": c.channel}),
        crate::now(),
    )
    .await?;
    crate::events::append(
        conn,
        "message.created",
        Some(c.id),
        ACTOR,
        serde_json::json!({"message_id": message_id, "kind": MessageKind::Outbound, "attachments": 0, "bot": true}),
    )
    .await?;
    Ok(message_id)
}

/// One article the bot offers, with how sure it is (the share of the question's words the
/// article holds, 0 to 1).
#[derive(Debug, Clone)]
pub struct Offer {
    pub article_id: ArticleId,
    pub lang: String,
    pub confidence: f32,
}

/// The bot offers articles and asks whether they solve it.
pub async fn offer(
    conn: &mut dyn Conn,
    id: ConversationId,
    offers: &[Offer],
    text: &str,
) -> Result<()> {
    let c = conversations::get(conn, id).await?;
    let now = crate::now().micros();
    for o in offers {
        conn.execute(
            "INSERT INTO bot_offers (conversation_id, article_id, lang, confidence, created_at) VALUES ($1, $2, $3, $4, $5)",
            args![id.to_string(), o.article_id.to_string(), o.lang.as_str(), (o.confidence * 1000.0).round() as i64, now],
        )
        .await?;
    }
    conn.execute(
        "UPDATE bot_conversations SET state = 'offered', rounds = rounds + 1, updated_at = $1 WHERE conversation_id = $2",
        args![now, id.to_string()],
    )
    .await?;
    say(conn, &c, text).await?;
    crate::events::append(
        conn,
        "bot.offered",
        Some(id),
        ACTOR,
        serde_json::json!({"articles": offers.iter().map(|o| serde_json::json!({"id": o.article_id, "lang": o.lang, "confidence": o.confidence})).collect::<Vec<_>>()}),
    )
    .await
}

/// The customer said the offer did not solve it: the bot answers again.
pub async fn not_solved(conn: &mut dyn Conn, id: ConversationId) -> Result<()> {
    conn.execute(
        "UPDATE bot_offers SET outcome = 'not_solved' WHERE conversation_id = $1 AND outcome IS NULL",
        args![id.to_string()],
    )
    .await?;
    conn.execute(
        "UPDATE bot_conversations SET state = 'answering', updated_at = $1 WHERE conversation_id = $2",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    Ok(())
}

/// The customer said an offered article solved it: the conversation is solved as
/// self-served, and the articles' answers are recorded.
pub async fn self_served(conn: &mut dyn Conn, id: ConversationId, text: &str) -> Result<()> {
    let c = conversations::get(conn, id).await?;
    let offers = conn
        .query(
            "SELECT article_id FROM bot_offers WHERE conversation_id = $1 AND outcome IS NULL",
            args![id.to_string()],
        )
        .await?;
    for r in &offers {
        crate::knowledge::feedback(conn, r.parse(0)?, true, None, "bot").await?;
    }
    conn.execute(
        "UPDATE bot_offers SET outcome = 'solved' WHERE conversation_id = $1 AND outcome IS NULL",
        args![id.to_string()],
    )
    .await?;
    conn.execute(
        "UPDATE bot_conversations SET state = 'self_served', updated_at = $1 WHERE conversation_id = $2",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    say(conn, &c, text).await?;
    if c.status.can_become(Status::Solved) {
        conversations::change_status(conn, &c, Status::Solved, ACTOR).await?;
    }
    crate::events::append(
        conn,
        "bot.self_served",
        Some(id),
        ACTOR,
        serde_json::json!({}),
    )
    .await
}

/// Hands the conversation to a person now: back into its team's queue (and routed), with
/// a note for the agent of what the bot did. `text` is what the customer is told. Does
/// nothing when the bot no longer has the conversation.
pub async fn hand_off(
    conn: &mut dyn Conn,
    id: ConversationId,
    reason: &str,
    text: Option<&str>,
) -> Result<bool> {
    let Some(s) = state(conn, id).await?.filter(|s| s.is_active()) else {
        return Ok(false);
    };
    let now = crate::now().micros();
    let tried = conn
        .query(
            "SELECT a.title, a.lang, o.confidence, o.outcome FROM bot_offers o JOIN articles a ON a.id = o.article_id \
             WHERE o.conversation_id = $1 ORDER BY o.created_at",
            args![id.to_string()],
        )
        .await?;
    conn.execute(
        "UPDATE bot_offers SET outcome = 'handed_off' WHERE conversation_id = $1 AND outcome IS NULL",
        args![id.to_string()],
    )
    .await?;
    conn.execute(
        "UPDATE bot_conversations SET state = 'handed_off', reason = $1, updated_at = $2 WHERE conversation_id = $3",
        args![reason, now, id.to_string()],
    )
    .await?;
    let c = conversations::get(conn, id).await?;
    if let Some(text) = text {
        say(conn, &c, text).await?;
    }
    let mut note = format!("The bot handed this conversation over: {reason}.");
    if tried.is_empty() {
        note.push_str(" It offered no article.");
    } else {
        note.push_str(" It offered:");
        for r in &tried {
            let outcome = r.opt_text(3)?.unwrap_or_else(|| "no answer".into());
            note.push_str(&format!(
                "\n- “{}” ({}), {}% of the question's words matched; {}",
                r.text(0)?,
                r.text(1)?,
                r.int(2)? / 10,
                outcome.replace('_', " ")
            ));
        }
    }
    conversations::system_note(conn, &c, MessageKind::System, &note, ACTOR).await?;
    if let Some(team) = s.team_id {
        conn.execute(
            "UPDATE conversations SET team_id = $1 WHERE id = $2 AND team_id IS NULL",
            args![team.to_string(), id.to_string()],
        )
        .await?;
        if c.owner_id.is_none() {
            crate::routing::route(conn, id, team, c.language.as_deref()).await?;
        }
    }
    crate::events::append(
        conn,
        "bot.handed_off",
        Some(id),
        ACTOR,
        serde_json::json!({"reason": reason}),
    )
    .await?;
    Ok(true)
}

/// An agent wrote to the customer: the bot steps aside for good.
pub(crate) async fn agent_joined(conn: &mut dyn Conn, id: ConversationId) -> Result<()> {
    conn.execute(
        "UPDATE bot_conversations SET state = 'handed_off', reason = coalesce(reason, 'an agent answered'), updated_at = $1 \
         WHERE conversation_id = $2 AND state IN ('answering', 'offered')",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    Ok(())
}

/// Deflection and handoff over the conversations the bot took since `since` (micros).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub conversations: i64,
    pub self_served: i64,
    pub handed_off: i64,
    pub answering: i64,
    /// Self-served share of the conversations the bot finished with.
    pub deflection_rate: f64,
    pub handoff_rate: f64,
    /// Per article and language: offered, solved, handed over.
    pub articles: Vec<ArticleStats>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleStats {
    pub article_id: ArticleId,
    pub title: String,
    pub lang: String,
    pub offered: i64,
    pub solved: i64,
    pub handed_off: i64,
}

pub async fn stats(conn: &mut dyn Conn, since: i64) -> Result<Stats> {
    let r = conn
        .query_one(
            "SELECT count(*), coalesce(sum(CASE WHEN state = 'self_served' THEN 1 ELSE 0 END), 0), \
             coalesce(sum(CASE WHEN state = 'handed_off' THEN 1 ELSE 0 END), 0) FROM bot_conversations WHERE created_at >= $1",
            args![since],
        )
        .await?;
    let (total, served, handed) = (r.int(0)?, r.int(1)?, r.int(2)?);
    let finished = served + handed;
    let articles = conn
        .query(
            "SELECT o.article_id, a.title, o.lang, count(*), coalesce(sum(CASE WHEN o.outcome = 'solved' THEN 1 ELSE 0 END), 0), \
             coalesce(sum(CASE WHEN o.outcome = 'handed_off' THEN 1 ELSE 0 END), 0) \
             FROM bot_offers o JOIN articles a ON a.id = o.article_id WHERE o.created_at >= $1 \
             GROUP BY o.article_id, a.title, o.lang ORDER BY count(*) DESC, a.title LIMIT 200",
            args![since],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ArticleStats {
                article_id: r.parse(0)?,
                title: r.text(1)?,
                lang: r.text(2)?,
                offered: r.int(3)?,
                solved: r.int(4)?,
                handed_off: r.int(5)?,
            })
        })
        .collect::<Result<_>>()?;
    let rate = |n: i64| {
        if finished == 0 {
            0.0
        } else {
            n as f64 / finished as f64
        }
    };
    Ok(Stats {
        conversations: total,
        self_served: served,
        handed_off: handed,
        answering: total - finished,
        deflection_rate: rate(served),
        handoff_rate: rate(handed),
        articles,
    })
}
