//! Feeds the search index from the event log. The index commits the last event it applied;
//! on start it catches up from there, and an index that is new (first start, a damaged or
//! older index, `seva reindex`) is first filled from the store.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use seva_core::{ArticleId, ConversationId, MessageId};
use seva_search::{ArticleDoc, MessageDoc, SearchIndex};
use seva_store::knowledge::{self, Article};
use seva_store::messages::{self, Searchable, SearchableOf};
use seva_store::{Store, events, op};

use crate::Shared;

/// The writer's memory: enough to index a large batch without many small segments.
const WRITER_HEAP: usize = 48 * 1024 * 1024;

/// Opens the index in the data folder (`DATA/index`).
pub fn open(config: &crate::config::Config) -> Result<SearchIndex, seva_search::Error> {
    SearchIndex::open(&config.data_dir.join("index"), WRITER_HEAP)
}

pub fn put_article(index: &SearchIndex, a: &Article) -> Result<(), seva_search::Error> {
    index.put_article(&ArticleDoc {
        id: &a.id.to_string(),
        group: &a.group_id.to_string(),
        lang: &a.lang,
        slug: &a.slug,
        title: &a.title,
        text: &a.body,
        tags: &a.tags,
        category: a.category_id.map(|c| c.to_string()).as_deref(),
        public: a.visibility == "public",
        published: a.status == "published",
        updated: a.updated_at.micros() / 1_000_000,
    })
}

pub fn put_message(index: &SearchIndex, m: &Searchable) -> Result<(), seva_search::Error> {
    index.put_message(&MessageDoc {
        id: &m.id.to_string(),
        conversation: &m.conversation_id.to_string(),
        reference: m.reference,
        subject: &m.subject,
        text: &m.text,
        note: m.note,
        lang: None,
        created: m.created_at.micros() / 1_000_000,
    })
}

/// Fills the index from the store: every article and message. Returns the documents put.
pub async fn rebuild(store: &Store, index: &SearchIndex) -> Result<u64, String> {
    let checkpoint = store
        .read(op!(c => events::last_seq(c).await))
        .await
        .map_err(|e| e.to_string())?;
    index.clear().map_err(|e| e.to_string())?;
    let mut put = 0u64;
    let mut after: Option<ArticleId> = None;
    loop {
        let page = store
            .read(op!(c => knowledge::page(c, after, 500).await))
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for a in &page {
            put_article(index, a).map_err(|e| e.to_string())?;
            put += 1;
        }
    }
    let mut after_seq = 0;
    loop {
        let page = store
            .read(op!(c => messages::searchable(c, SearchableOf::After(after_seq), 2_000).await))
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        for m in &page {
            put_message(index, m).map_err(|e| e.to_string())?;
            put += 1;
        }
    }
    index.commit(checkpoint).map_err(|e| e.to_string())?;
    Ok(put)
}

/// What a batch of events asks of the index.
#[derive(Default)]
struct Work {
    articles: BTreeSet<ArticleId>,
    gone: HashSet<ArticleId>,
    messages: BTreeSet<MessageId>,
    conversations: BTreeSet<ConversationId>,
}

impl Work {
    fn add(&mut self, e: &seva_store::Event) {
        let id = |key: &str| e.data.get(key).and_then(|v| v.as_str()).map(str::to_string);
        match e.kind.as_str() {
            "article.created" | "article.updated" => {
                if let Some(a) = id("article_id").and_then(|s| s.parse().ok()) {
                    self.articles.insert(a);
                }
            }
            "article.deleted" => {
                if let Some(a) = id("article_id").and_then(|s| s.parse().ok()) {
                    self.gone.insert(a);
                }
            }
            "message.created" | "conversation.created" => {
                if let Some(m) = id("message_id").and_then(|s| s.parse().ok()) {
                    self.messages.insert(m);
                }
            }
            "conversation.merged" | "conversation.split" | "conversation.subject" => {
                self.conversations.extend(e.conversation_id);
                if let Some(into) = id("into").and_then(|s| s.parse().ok()) {
                    self.conversations.insert(into);
                }
            }
            _ => {}
        }
    }
}

/// Applies the events after the index's checkpoint, for as long as the server runs.
pub async fn run(state: Shared, index: Arc<SearchIndex>) {
    if index.is_fresh() {
        match rebuild(&state.store, &index).await {
            Ok(n) => tracing::info!(documents = n, "search index built"),
            Err(e) => tracing::error!(error = %e, "could not build the search index"),
        }
    }
    let mut cursor = index.checkpoint().unwrap_or(0);
    let mut notices = state.store.subscribe();
    let handle = tokio::runtime::Handle::current();
    loop {
        // Indexing and the index's commit are plain blocking work (and SQLite reads run on
        // the calling thread): done on a thread of their own, they never hold up the
        // tasks that answer customers and agents.
        let (store, idx, on) = (state.store.clone(), index.clone(), handle.clone());
        let applied =
            tokio::task::spawn_blocking(move || on.block_on(catch_up(&store, &idx, cursor)))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
        match applied {
            Ok(Some(seq)) => {
                cursor = seq;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "search index: could not apply events"),
        }
        // Woken by a commit on this node; other nodes' commits are seen within seconds.
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), notices.recv()).await {
            tokio::time::sleep(Duration::from_millis(30)).await;
            notices = notices.resubscribe();
        }
    }
}

/// Applies up to a page of events after `cursor`; the new cursor, or `None` when there was
/// nothing to apply.
pub async fn catch_up(
    store: &Store,
    index: &SearchIndex,
    cursor: i64,
) -> Result<Option<i64>, String> {
    let batch = store
        .read(op!(c => events::after(c, cursor, 1_000).await))
        .await
        .map_err(|e| e.to_string())?;
    let Some(last) = batch.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let mut work = Work::default();
    batch.iter().for_each(|e| work.add(e));
    for id in &work.gone {
        index.delete(&id.to_string());
    }
    for id in work
        .articles
        .iter()
        .filter(|a| !work.gone.contains(a))
        .copied()
    {
        match store.read(op!(c => knowledge::get(c, id).await)).await {
            Ok(a) => put_article(index, &a).map_err(|e| e.to_string())?,
            Err(seva_store::Error::NotFound) => index.delete(&id.to_string()),
            Err(e) => return Err(e.to_string()),
        }
    }
    for id in work.messages.iter().copied() {
        let found = store
            .read(op!(c => messages::searchable(c, SearchableOf::One(id), 1).await))
            .await
            .map_err(|e| e.to_string())?;
        for m in &found {
            put_message(index, m).map_err(|e| e.to_string())?;
        }
    }
    for c in work.conversations.iter().copied() {
        let found = store
            .read(op!(s => messages::searchable(s, SearchableOf::Conversation(c), 10_000).await))
            .await
            .map_err(|e| e.to_string())?;
        for m in &found {
            put_message(index, m).map_err(|e| e.to_string())?;
        }
    }
    index.commit(last).map_err(|e| e.to_string())?;
    Ok(Some(last))
}
