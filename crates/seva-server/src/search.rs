//! Feeds the search index from the event log. The index commits the last event it applied;
//! on start it catches up from there, and an index that is new (first start, a damaged or
//! older index, `seva reindex`) is first filled from the store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use seva_core::{ArticleId, ConversationId, MessageId};
use seva_search::{ArticleDoc, Found, Kind, MessageDoc, SearchIndex};
use seva_store::conversations::{self, Conversation, Viewer};
use seva_store::knowledge::{self, Article};
use seva_store::messages::{self, Searchable, SearchableOf};
use seva_store::{Store, events, op};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::Shared;
use crate::problem::Problem;

/// The writer's memory: enough to index a large batch without many small segments.
const WRITER_HEAP: usize = 48 * 1024 * 1024;

/// How much lower than the rest of Seva the index's threads run (a `nice` value). The
/// index is a copy of what is stored, seconds behind at most; when the CPU is short, the
/// answers to customers and agents come first and the index catches up after.
const INDEX_NICENESS: i32 = 10;

/// Lowers the calling thread's priority to [`INDEX_NICENESS`]. Threads it starts inherit it.
fn run_behind() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), INDEX_NICENESS) {
        tracing::debug!(error = %e, "could not lower the search index's priority");
    }
}

/// Opens the index in the data folder (`DATA/index`). It is opened on a thread of lower
/// priority, so that tantivy's own threads (indexing, merging) start from there and run
/// behind the rest of Seva.
pub fn open(config: &crate::config::Config) -> Result<SearchIndex, seva_search::Error> {
    let dir = config.data_dir.join("index");
    std::thread::scope(|s| {
        s.spawn(|| {
            run_behind();
            SearchIndex::open(&dir, WRITER_HEAP)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("opening the index panicked").into()))
    })
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

/// Puts messages in the index. `new` says they cannot be there yet (just written), which
/// spares the index a delete each and lets them go in as one batch.
pub fn put_messages<'a>(
    index: &SearchIndex,
    found: impl IntoIterator<Item = &'a Searchable>,
    new: bool,
) -> Result<(), seva_search::Error> {
    let found: Vec<&Searchable> = found.into_iter().collect();
    let ids: Vec<(String, String)> = found
        .iter()
        .map(|m| (m.id.to_string(), m.conversation_id.to_string()))
        .collect();
    let docs: Vec<MessageDoc<'_>> = found
        .iter()
        .zip(&ids)
        .map(|(m, (id, conversation))| MessageDoc {
            id,
            conversation,
            reference: m.reference,
            subject: &m.subject,
            text: &m.text,
            note: m.note,
            lang: None,
            created: m.created_at.micros() / 1_000_000,
        })
        .collect();
    if new {
        index.add_messages(&docs)
    } else {
        docs.iter().try_for_each(|d| index.put_message(d))
    }
}

/// Fills the index from the store: every article and message. Returns the documents put.
pub async fn rebuild(store: &Store, index: &SearchIndex) -> Result<u64, String> {
    // One snapshot for both: every message up to `through` has its event at or before
    // `checkpoint`, and every later message comes with an event after it, so no message
    // is put twice.
    let (checkpoint, through) = store
        .read(op!(c => Ok((events::last_seq(c).await?, messages::last_seq(c).await?))))
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
            .read(op!(c => {
                let of = SearchableOf::Between { after: after_seq, through };
                messages::searchable(c, of, 2_000).await
            }))
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        put_messages(index, &page, true).map_err(|e| e.to_string())?;
        put += page.len() as u64;
    }
    index.commit(checkpoint).map_err(|e| e.to_string())?;
    Ok(put)
}

/// What a batch of events asks of the index.
#[derive(Default)]
struct Work {
    articles: BTreeSet<ArticleId>,
    gone: HashSet<ArticleId>,
    /// Messages just written: none of them can be in the index yet.
    messages: BTreeSet<MessageId>,
    /// Messages just written that came with their event (this node wrote them): nothing
    /// to read.
    heard: Vec<Arc<Searchable>>,
    /// Messages that may be in it already, to be replaced.
    moved: BTreeSet<MessageId>,
    conversations: BTreeSet<ConversationId>,
    /// Messages of an erased customer, or redacted, to be deleted after everything else
    /// is put.
    erased: Vec<String>,
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
                if let Some(m) = &e.message {
                    self.heard.push(m.clone());
                } else if let Some(m) = id("message_id").and_then(|s| s.parse().ok()) {
                    // A conversation split off takes a message that was indexed before.
                    if e.data.get("split_from").is_some() {
                        self.moved.insert(m);
                    } else {
                        self.messages.insert(m);
                    }
                }
            }
            "message.redacted" => self.erased.extend(id("message_id")),
            "contact.erased" | "conversations.deleted" => {
                let ids = e.data.get("messages").and_then(|v| v.as_array());
                self.erased.extend(
                    ids.into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str())
                        .map(str::to_string),
                );
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

/// How often the index commits while events keep coming. Each commit makes a segment
/// that tantivy later merges; committing after every page of events under load cost more
/// CPU than the indexing itself (docs/benchmarks.md). A message written after a quiet
/// spell is searchable at once; under load, within about this long.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Applies the events after the index's checkpoint, until `stop` turns true: then it
/// commits what it applied and returns.
pub async fn run(state: Shared, index: Arc<SearchIndex>, stop: tokio::sync::watch::Receiver<bool>) {
    if index.is_fresh() {
        match rebuild(&state.store, &index).await {
            Ok(n) => tracing::info!(documents = n, "search index built"),
            Err(e) => tracing::error!(error = %e, "could not build the search index"),
        }
    }
    // Indexing and the index's commit are plain blocking work (and SQLite reads run on
    // the calling thread): on a thread of their own, at a lower priority, they never hold
    // up the tasks that answer customers and agents.
    let handle = tokio::runtime::Handle::current();
    let started = std::thread::Builder::new()
        .name("seva-search".into())
        .spawn(move || {
            run_behind();
            feed(&state, &index, &handle, stop)
        });
    match started {
        // Waited for, so that the runtime the thread leans on outlives it.
        Ok(thread) => {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the search index's thread; search is stale")
        }
    }
}

fn feed(
    state: &Shared,
    index: &SearchIndex,
    on: &tokio::runtime::Handle,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut cursor = index.checkpoint().unwrap_or(0);
    // Applied but not yet committed: the events up to `cursor` since the last commit.
    let mut dirty = false;
    let mut committed_at: Option<Instant> = None;
    // Subscribed before the first read of the log: whatever is committed after that read
    // is heard.
    let mut heard = Heard::new(state.store.subscribe());
    let mut from_log = true;
    loop {
        let stopping = *stop.borrow();
        let commit_due = stopping || committed_at.is_none_or(|at| at.elapsed() >= COMMIT_EVERY);
        let step = on
            .block_on(async {
                let events = match heard.after(cursor) {
                    // What was heard follows the cursor: nothing between was missed.
                    Some(events) if !from_log || !events.is_empty() => {
                        from_log = false;
                        events
                    }
                    _ => {
                        let page = log_page(&state.store, cursor).await?;
                        // Once the log has nothing more, what comes next is heard.
                        from_log = !page.is_empty();
                        page
                    }
                };
                apply(state, index, &events).await
            })
            .and_then(|applied| {
                let commit = commit_due && (dirty || applied.is_some());
                if commit {
                    index
                        .commit(applied.unwrap_or(cursor))
                        .map_err(|e| e.to_string())?;
                    if let Err(e) = index.purge_if_due() {
                        tracing::warn!(error = %e, "search index: erased messages stay in its files until the next commit");
                    }
                }
                Ok((applied, commit))
            });
        let more = match step {
            Ok((applied, commit)) => {
                if let Some(seq) = applied {
                    cursor = seq;
                    dirty = true;
                }
                if commit {
                    dirty = false;
                    committed_at = Some(Instant::now());
                }
                applied.is_some()
            }
            Err(e) => {
                tracing::warn!(error = %e, "search index: could not apply events");
                // What was applied but not committed is dropped and applied again from
                // the checkpoint, read from the log.
                if let Err(e) = index.rollback() {
                    tracing::warn!(error = %e, "search index: could not roll back");
                }
                cursor = index.checkpoint().unwrap_or(0);
                dirty = false;
                from_log = true;
                false
            }
        };
        if stopping {
            return;
        }
        if more {
            continue;
        }
        // Caught up. Woken by a commit on this node, or when the applied events are due to
        // be committed; after two quiet seconds the log is read again, for what other
        // nodes committed.
        let wait = match committed_at {
            Some(at) if dirty => COMMIT_EVERY.saturating_sub(at.elapsed()),
            _ => Duration::from_secs(2),
        };
        let heard_some = on.block_on(async {
            tokio::select! {
                heard_some = heard.wait(wait) => heard_some,
                // A last round commits what was applied, then the thread ends.
                _ = stop.changed() => true,
            }
        });
        if !heard_some {
            from_log = true;
        }
    }
}

/// The most events kept heard while the index reads the log.
const KEPT_AT_MOST: usize = 10_000;

/// The events this node commits, as they are published (after the log's sync), kept
/// until the index takes them.
struct Heard {
    events: tokio::sync::broadcast::Receiver<Arc<seva_store::Event>>,
    kept: Vec<Arc<seva_store::Event>>,
    /// Some were missed (the channel overflowed while the index was behind): only the log
    /// can say which.
    missed: bool,
}

impl Heard {
    fn new(events: tokio::sync::broadcast::Receiver<Arc<seva_store::Event>>) -> Self {
        Self {
            events,
            kept: Vec::new(),
            missed: false,
        }
    }

    fn take(&mut self, heard: Result<Arc<seva_store::Event>, RecvError>) -> bool {
        match heard {
            Ok(e) => {
                self.kept.push(e);
                true
            }
            Err(RecvError::Lagged(_)) => {
                self.lost();
                true
            }
            Err(RecvError::Closed) => false,
        }
    }

    /// Drops what was heard: the log must say what came after the cursor.
    fn lost(&mut self) {
        self.kept.clear();
        self.missed = true;
    }

    /// Waits up to `wait` for something to be heard, then (under load) a moment more to
    /// gather a burst. Whether anything was.
    async fn wait(&mut self, wait: Duration) -> bool {
        let Ok(first) = tokio::time::timeout(wait, self.events.recv()).await else {
            return false;
        };
        if !self.take(first) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        true
    }

    /// What was heard after `cursor`, when it follows `cursor` without a gap (on SQLite
    /// events are numbered without gaps; on PostgreSQL a gap, or another node's event,
    /// sends the indexer to the log); `None` when the log must be read.
    fn after(&mut self, cursor: i64) -> Option<Vec<Arc<seva_store::Event>>> {
        loop {
            match self.events.try_recv() {
                Ok(e) => self.kept.push(e),
                Err(TryRecvError::Lagged(_)) => self.lost(),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        // Far behind (a rebuild, a long catch-up from the log): drop what was heard rather
        // than keep it without end; the log has it.
        if self.kept.len() > KEPT_AT_MOST {
            self.lost();
        }
        if std::mem::take(&mut self.missed) {
            return None;
        }
        self.kept.retain(|e| e.seq > cursor);
        let follows = self
            .kept
            .iter()
            .zip(cursor + 1..)
            .all(|(e, seq)| e.seq == seq);
        follows.then(|| std::mem::take(&mut self.kept))
    }
}

/// A page of events after `cursor`, read from the log.
async fn log_page(store: &Store, cursor: i64) -> Result<Vec<Arc<seva_store::Event>>, String> {
    let page = store
        .read(op!(c => events::after(c, cursor, 1_000).await))
        .await
        .map_err(|e| e.to_string())?;
    Ok(page.into_iter().map(Arc::new).collect())
}

/// Puts in the index what `events` ask for, without committing; the last event's seq, or
/// `None` when there were none.
async fn apply(
    state: &Shared,
    index: &SearchIndex,
    events: &[Arc<seva_store::Event>],
) -> Result<Option<i64>, String> {
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let (store, metrics) = (&state.store, &state.metrics);
    let mut work = Work::default();
    events.iter().for_each(|e| work.add(e));
    put_messages(index, work.heard.iter().map(|m| &**m), true).map_err(|e| e.to_string())?;
    metrics
        .search_messages_from_events
        .fetch_add(work.heard.len() as u64, Ordering::Relaxed);
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
    for (ids, new) in [(&work.messages, true), (&work.moved, false)] {
        let ids: Vec<MessageId> = ids.iter().copied().collect();
        for chunk in ids.chunks(messages::SEARCHABLE_BATCH) {
            let chunk = chunk.to_vec();
            let found = store
                .read(op!(c => messages::searchable(c, SearchableOf::Ids(&chunk), 0).await))
                .await
                .map_err(|e| e.to_string())?;
            put_messages(index, &found, new).map_err(|e| e.to_string())?;
            metrics
                .search_messages_from_store
                .fetch_add(found.len() as u64, Ordering::Relaxed);
        }
    }
    for c in work.conversations.iter().copied() {
        let found = store
            .read(op!(s => messages::searchable(s, SearchableOf::Conversation(c), 10_000).await))
            .await
            .map_err(|e| e.to_string())?;
        put_messages(index, &found, false).map_err(|e| e.to_string())?;
        metrics
            .search_messages_from_store
            .fetch_add(found.len() as u64, Ordering::Relaxed);
    }
    for id in &work.erased {
        index.erase(id);
    }
    Ok(Some(last))
}

/// Runs a query on this node's index, for the API and the desk: no index is 503, a
/// failing one 500 (and a log line).
pub fn search(state: &Shared, query: &seva_search::Query<'_>) -> Result<Found, Problem> {
    let index = state.search.get().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search is not available on this node",
        )
    })?;
    index.search(query).map_err(|e| {
        tracing::warn!(error = %e, "search failed");
        Problem::internal()
    })
}

/// Messages matching `text` (`lang`: the language to prefer), best first, only of conversations `viewer` may see, at most
/// `limit`; with those conversations, for whoever shows the hits. The index is asked for
/// more than `limit`, since some hits fall away at the check.
pub async fn visible_messages(
    state: &Shared,
    viewer: &Viewer,
    text: &str,
    lang: Option<&str>,
    limit: usize,
) -> Result<(Found, HashMap<ConversationId, Conversation>), Problem> {
    let query = seva_search::Query {
        text,
        kind: Kind::Message,
        lang,
        public_only: false,
        published_only: false,
        one_per_group: false,
        limit: limit * 4,
        now: seva_store::now().micros() / 1_000_000,
    };
    let mut found = search(state, &query)?;
    let ids: Vec<ConversationId> = found
        .hits
        .iter()
        .filter_map(|h| h.conversation.as_deref()?.parse().ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let visible: HashMap<ConversationId, Conversation> = state
        .store
        .read(op!(c => conversations::get_many(c, &ids).await))
        .await?
        .into_iter()
        .filter(|conv| viewer.may_see(conv))
        .map(|conv| (conv.id, conv))
        .collect();
    found.hits.retain(|h| {
        h.conversation
            .as_deref()
            .and_then(|c| c.parse().ok())
            .is_some_and(|c| visible.contains_key(&c))
    });
    found.hits.truncate(limit);
    Ok((found, visible))
}
