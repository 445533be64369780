//! The answering bot: on chat (and any messaging channel), before a person is involved, it
//! reads the customer's message in their language, offers the public articles that cover
//! the question well enough, asks whether that solved it, and hands over to a person the
//! moment the customer asks, or when it has nothing good to offer. Its decisions are
//! durable jobs, so a restart never loses a customer's message to it.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use seva_core::ConversationId;
use seva_core::bot::{Intent, intent};
use seva_store::bot::{self, Offer};
use seva_store::jobs::Job;
use seva_store::{conversations, messages, op};

use crate::Shared;
use crate::i18n::Tr;
use crate::problem::Problem;

/// An inbox's bot settings (`settings.bot` of the inbox).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotSettings {
    pub enabled: bool,
    /// How much of the question an article must cover to be offered, 0 to 1 (0.6 unless set).
    pub threshold: Option<f32>,
    /// Words that ask for a person; Seva's own list (every language) when empty.
    pub handoff_words: Vec<String>,
}

impl BotSettings {
    pub fn of(inbox_settings: &Value) -> Self {
        inbox_settings
            .get("bot")
            .and_then(|b| serde_json::from_value(b.clone()).ok())
            .unwrap_or_default()
    }

    pub fn threshold(&self) -> f32 {
        self.threshold.unwrap_or(0.6)
    }
}

/// Refuses bot settings that cannot work.
pub fn check_settings(b: &BotSettings) -> Result<(), Problem> {
    let bad = |field: &str, why: &str| {
        Err(Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("settings.bot.{field}"),
            why,
        ))
    };
    if let Some(t) = b.threshold
        && !(0.0..=1.0).contains(&t)
    {
        return bad("threshold", "a share between 0 and 1, such as 0.6");
    }
    if b.handoff_words.len() > 100
        || b.handoff_words
            .iter()
            .any(|w| w.trim().is_empty() || w.chars().count() > 40)
    {
        return bad("handoff_words", "up to 100 words of 1 to 40 characters");
    }
    Ok(())
}

/// The job: reads the customer's message and answers it, if the bot still has the
/// conversation.
pub async fn answer(state: &Shared, job: &Job) -> Result<(), String> {
    let id: ConversationId = job
        .payload
        .get("conversation_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or("the job names no conversation")?;
    let message: seva_core::MessageId = job
        .payload
        .get("message_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or("the job names no message")?;
    let (s, c, m, offered) = state
        .store
        .read(op!(x => Ok((
            bot::state(x, id).await?,
            conversations::get(x, id).await?,
            messages::get(x, message).await?,
            bot::offered(x, id).await?,
        ))))
        .await
        .map_err(|e| e.to_string())?;
    // Handed over, self-served, or an agent answered: the bot says nothing more.
    let Some(s) = s.filter(|s| s.is_active()) else {
        return Ok(());
    };
    let settings = match c.inbox_id {
        Some(inbox) => state
            .store
            .read(op!(x => seva_store::inboxes::get(x, inbox).await))
            .await
            .map(|i| BotSettings::of(&i.settings))
            .unwrap_or_default(),
        None => BotSettings::default(),
    };
    let lang = seva_search::language::detect(&m.text)
        .filter(|l| crate::i18n::LANGUAGES.iter().any(|(code, _)| code == l))
        .or(s.lang.clone())
        .or(c.language.clone())
        .unwrap_or_else(|| "en".into());
    let tr = Tr::new(&lang);
    let result = match intent(&m.text, &settings.handoff_words, s.state == "offered") {
        Intent::Person => {
            let reason = "the customer asked for a person";
            let text = tr.s("bot-handoff");
            state
                .store
                .write(op!(x => bot::hand_off(x, id, reason, Some(&text)).await.map(|_| ())))
                .await
        }
        Intent::Yes => {
            let text = tr.s("bot-glad");
            state
                .store
                .write(op!(x => bot::self_served(x, id, &text).await))
                .await
        }
        Intent::No | Intent::Question => {
            let declined = s.state == "offered";
            // What to look up: the question, and after a "no", the conversation's first words too.
            let question = if declined {
                format!("{} {}", c.subject, m.text)
            } else {
                m.text.clone()
            };
            let fresh: Vec<seva_search::Hit> =
                crate::knowledge::suggestions(state, &question, Some(&lang), settings.threshold())
                    .into_iter()
                    .filter(|h| !offered.iter().any(|o| o.to_string() == h.id))
                    .take(2)
                    .collect();
            if declined {
                state
                    .store
                    .write(op!(x => bot::not_solved(x, id).await))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if fresh.is_empty() || s.rounds >= 2 {
                let (reason, text) = if declined {
                    ("the articles offered did not solve it", tr.s("bot-handoff"))
                } else {
                    (
                        "no article matched the question well enough",
                        tr.s("bot-no-match"),
                    )
                };
                let reason = format!("{reason} (threshold {:.0}%)", settings.threshold() * 100.0);
                state
                    .store
                    .write(op!(x => bot::hand_off(x, id, &reason, Some(&text)).await.map(|_| ())))
                    .await
            } else {
                let mut text = tr.s("bot-offer");
                for h in &fresh {
                    let url = crate::knowledge::public_url(
                        state,
                        &h.lang,
                        h.slug.as_deref().unwrap_or_default(),
                    );
                    text.push_str(&format!("\n• {} — {url}", h.title));
                }
                text.push_str("\n\n");
                text.push_str(&tr.s("bot-ask"));
                let offers: Vec<Offer> = fresh
                    .iter()
                    .filter_map(|h| {
                        Some(Offer {
                            article_id: h.id.parse().ok()?,
                            lang: h.lang.clone(),
                            confidence: h.coverage,
                        })
                    })
                    .collect();
                state
                    .store
                    .write(op!(x => bot::offer(x, id, &offers, &text).await))
                    .await
            }
        }
    };
    result.map_err(|e| e.to_string())
}

/// The customer pressed "talk to a person" in the widget.
pub async fn person_asked(
    state: &Shared,
    id: ConversationId,
    lang: &str,
) -> seva_store::Result<bool> {
    let text = Tr::new(lang).s("bot-handoff");
    state
        .store
        .write(op!(x => bot::hand_off(x, id, "the customer pressed “talk to a person”", Some(&text)).await))
        .await
}
