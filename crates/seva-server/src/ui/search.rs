//! The desk's search: one box in the top bar that finds conversations by what was written
//! in them (messages and notes, through the search index, in any script), contacts by
//! name or address, and knowledge articles. A conversation's reference number (`#123`)
//! goes straight to it.

use std::collections::HashSet;

use super::Query;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::ConversationId;
use seva_search::Hit;
use seva_store::contacts::{self, Contact};
use seva_store::{conversations, op};

use super::desk::{Row, agent_names, rows};
use super::{Agent, Me, PageError, me, render};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::knowledge::{Audience, MAX_QUERY_CHARS};

/// How many of each kind the page shows.
const CONVERSATIONS: usize = 25;
const CONTACTS: i64 = 10;
const ORGANIZATIONS: usize = 5;
const ARTICLES: usize = 5;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// A conversation found by one of its messages: the best-matching passage, and whether
/// that passage is an internal note.
pub struct FoundConversation {
    row: Row,
    snippet_html: String,
    note: bool,
}

#[derive(askama::Template)]
#[template(path = "search.html")]
struct SearchPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    q: String,
    /// What was wrong with the query, if anything.
    error: Option<String>,
    /// The search index is not open on this node: only contacts were looked up.
    no_index: bool,
    conversations: Vec<FoundConversation>,
    contacts: Vec<Contact>,
    organizations: Vec<seva_store::organizations::Organization>,
    articles: Vec<Hit>,
}

impl SearchPage {
    fn found_nothing(&self) -> bool {
        self.conversations.is_empty()
            && self.contacts.is_empty()
            && self.organizations.is_empty()
            && self.articles.is_empty()
    }
}

/// A reference number as agents type it: `#123` or `123`.
fn reference(q: &str) -> Option<i64> {
    q.trim()
        .trim_start_matches('#')
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let q = query.q.trim().to_string();
    let viewer = agent.0.viewer();
    let mut page = SearchPage {
        t,
        me: Some(me(&agent.0)),
        languages: LANGUAGES,
        q: q.clone(),
        error: None,
        no_index: state.search.get().is_none(),
        conversations: Vec::new(),
        contacts: Vec::new(),
        organizations: Vec::new(),
        articles: Vec::new(),
    };
    if q.is_empty() {
        return Ok(render(&page));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        page.error = Some(t.a("search-too-long", "max", MAX_QUERY_CHARS));
        return Ok(render(&page));
    }
    if let Some(n) = reference(&q) {
        let v = viewer.clone();
        let found = state
            .store
            .read(op!(c => match conversations::by_reference(c, n).await {
                Ok(conv) if v.may_see(&conv) => Ok(Some(conv.id)),
                Ok(_) | Err(seva_store::Error::NotFound) => Ok(None),
                Err(e) => Err(e),
            }))
            .await
            .map_err(|e| PageError(e.into(), t))?;
        if let Some(id) = found {
            return Ok(Redirect::to(&format!("/conversations/{id}")).into_response());
        }
    }
    let (hits, visible) = if page.no_index {
        Default::default()
    } else {
        let (found, visible) =
            crate::search::visible_messages(&state, &viewer, &q, Some(t.lang), CONVERSATIONS * 2)
                .await
                .map_err(|e| PageError(e, t))?;
        (found.hits, visible)
    };
    let pattern = q.clone();
    let (people, organizations, names) = state
        .store
        .read(op!(c => Ok((
            contacts::list(c, Some(&pattern), CONTACTS).await?,
            seva_store::organizations::search(c, &pattern, ORGANIZATIONS).await?,
            agent_names(c).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    // One line per conversation, at its best passage (the hits come best first).
    let mut seen = HashSet::new();
    let mut best: Vec<(Hit, conversations::Conversation)> = Vec::new();
    for hit in hits {
        let Some(id) = hit
            .conversation
            .as_deref()
            .and_then(|c| c.parse::<ConversationId>().ok())
        else {
            continue;
        };
        if best.len() < CONVERSATIONS
            && seen.insert(id)
            && let Some(conv) = visible.get(&id)
        {
            best.push((hit, conv.clone()));
        }
    }
    let (hits, list): (Vec<Hit>, Vec<_>) = best.into_iter().unzip();
    page.conversations = rows(t, list, &names)
        .into_iter()
        .zip(hits)
        .map(|(row, hit)| FoundConversation {
            row,
            snippet_html: hit.snippet_html,
            note: hit.note,
        })
        .collect();
    page.contacts = people;
    page.organizations = organizations;
    page.articles =
        crate::knowledge::articles(&state, &q, Some(t.lang), Audience::Agents, ARTICLES)
            .map(|f| f.hits)
            .unwrap_or_default();
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::reference;

    #[test]
    fn reference_numbers_are_read_with_or_without_the_hash() {
        assert_eq!(reference("#42"), Some(42));
        assert_eq!(reference(" 42 "), Some(42));
        assert_eq!(reference("0"), None);
        assert_eq!(reference("42 refund"), None);
        assert_eq!(reference("#"), None);
    }
}
