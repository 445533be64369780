//! Seva's search: one tantivy index holding knowledge-base articles and conversation
//! messages, analysed the same way in every script (see [`analysis`]).
//!
//! The index is a replica: the store is the truth, and the server's indexer feeds the
//! index from the event log, committing the last event it applied with each commit, so
//! that after a crash it catches up from there. When the index is missing, unreadable or
//! of an older layout it is started afresh and rebuilt from the store.

pub mod analysis;
pub mod language;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::UserOperation;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query as TQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use analysis::{ENGLISH, GREEK, WORDS};

/// Bumped whenever the fields or analysers change: an index of another layout is rebuilt.
const LAYOUT: &str = "seva-search 3";

/// A query holds at most this many words; the rest are left out, and the result says so.
pub const MAX_QUERY_WORDS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index folder: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Article,
    Message,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Article => "article",
            Kind::Message => "message",
        }
    }
}

/// An article as the index needs it. `text` is the body as plain words (Markdown is fine:
/// its marks are not words).
pub struct ArticleDoc<'a> {
    pub id: &'a str,
    pub group: &'a str,
    pub lang: &'a str,
    pub slug: &'a str,
    pub title: &'a str,
    pub text: &'a str,
    pub tags: &'a [String],
    pub category: Option<&'a str>,
    pub public: bool,
    pub published: bool,
    /// Seconds since the epoch.
    pub updated: i64,
}

pub struct MessageDoc<'a> {
    pub id: &'a str,
    pub conversation: &'a str,
    pub reference: i64,
    pub subject: &'a str,
    pub text: &'a str,
    /// Internal notes are found by agents like everything else; the kind is kept for display.
    pub note: bool,
    pub lang: Option<&'a str>,
    pub created: i64,
}

/// What to look for.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub text: &'a str,
    pub kind: Kind,
    /// The language to prefer (the page's, or the customer's); the query's own script wins.
    pub lang: Option<&'a str>,
    /// Articles only: just those on the public help center.
    pub public_only: bool,
    /// Articles only: just published ones.
    pub published_only: bool,
    /// Articles only: one per translation group (the best language of each).
    pub one_per_group: bool,
    pub limit: usize,
    /// Seconds since the epoch, for freshness.
    pub now: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub id: String,
    pub lang: String,
    pub title: String,
    /// The title with the matched words in `<b>`, escaped.
    pub title_html: String,
    /// A passage with the matched words in `<b>`, escaped.
    pub snippet_html: String,
    pub score: f32,
    /// The share of the query's words (not counting the commonest little words) that the
    /// document holds, stemmed or exact: how sure a bot may be that it answers the question.
    pub coverage: f32,
    /// The query's words it holds.
    pub matched: Vec<String>,
    pub group: Option<String>,
    pub slug: Option<String>,
    pub category: Option<String>,
    pub conversation: Option<String>,
    pub reference: Option<i64>,
    pub note: bool,
    pub updated: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// The query had more than [`MAX_QUERY_WORDS`] words; only the first were used.
    pub truncated: bool,
    /// The language the query was taken to be in.
    pub lang: Option<String>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    lang: Field,
    group: Field,
    slug: Field,
    category: Field,
    visibility: Field,
    status: Field,
    conversation: Field,
    reference: Field,
    note: Field,
    title: Field,
    body: Field,
    title_en: Field,
    body_en: Field,
    title_el: Field,
    body_el: Field,
    updated: Field,
}

fn schema() -> (Schema, Fields) {
    let mut s = Schema::builder();
    let text = |analyser: &str, stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyser)
                // Frequencies for ranking; no positions, which no query reads (there are
                // no phrase queries, and snippets are cut from the stored text).
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        if stored { o.set_stored() } else { o }
    };
    let fields = Fields {
        id: s.add_text_field("id", STRING | STORED),
        kind: s.add_text_field("kind", STRING | STORED),
        lang: s.add_text_field("lang", STRING | STORED),
        group: s.add_text_field("group", STRING | STORED),
        slug: s.add_text_field("slug", STORED),
        category: s.add_text_field("category", STRING | STORED),
        visibility: s.add_text_field("visibility", STRING),
        status: s.add_text_field("status", STRING),
        // Read back from hits, never searched: stored only, so that a commit does not build
        // a term per conversation into the index's dictionary.
        conversation: s.add_text_field("conversation", STORED),
        reference: s.add_i64_field("reference", STORED),
        note: s.add_u64_field("note", STORED),
        title: s.add_text_field("title", text(WORDS, true)),
        body: s.add_text_field("body", text(WORDS, true)),
        title_en: s.add_text_field("title_en", text(ENGLISH, false)),
        body_en: s.add_text_field("body_en", text(ENGLISH, false)),
        title_el: s.add_text_field("title_el", text(GREEK, false)),
        body_el: s.add_text_field("body_el", text(GREEK, false)),
        // Read for freshness when ranking, never asked for a range: no terms.
        updated: s.add_i64_field("updated", FAST | STORED),
    };
    (s.build(), fields)
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    fresh: bool,
    /// The checkpoint of the commit searches see ([`NO_CHECKPOINT`] before the first).
    visible: AtomicI64,
    /// Set by [`SearchIndex::erase`]: the next commit also rewrites the segments that hold
    /// deleted documents.
    purge_due: AtomicBool,
}

const NO_CHECKPOINT: i64 = i64::MIN;

impl SearchIndex {
    /// Opens the index in `dir`, or starts an empty one there (see [`Self::is_fresh`]).
    /// `heap` is the writer's memory in bytes (at least 15 MB).
    pub fn open(dir: &Path, heap: usize) -> Result<Self> {
        let (schema, f) = schema();
        let marker = dir.join("seva-layout");
        let usable = std::fs::read_to_string(&marker).is_ok_and(|l| l.trim() == LAYOUT);
        let opened = if usable {
            Index::open(MmapDirectory::open(dir)?).ok()
        } else {
            None
        };
        let (index, fresh) = match opened {
            Some(index) => (index, false),
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                let index = Index::create_in_dir(dir, schema)?;
                std::fs::write(&marker, LAYOUT)?;
                (index, true)
            }
        };
        analysis::register(index.tokenizers());
        let writer = index.writer_with_num_threads(1, heap.max(15_000_000))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let committed = index.load_metas()?.payload.and_then(|p| p.parse().ok());
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(writer),
            f,
            fresh,
            visible: AtomicI64::new(committed.unwrap_or(NO_CHECKPOINT)),
            purge_due: AtomicBool::new(false),
        })
    }

    /// Whether the index was just started empty and must be filled from the store.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The last event applied, as committed with the index and seen by its searches.
    pub fn checkpoint(&self) -> Option<i64> {
        Some(self.visible.load(Ordering::Acquire)).filter(|&c| c != NO_CHECKPOINT)
    }

    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an article, replacing any earlier version of it.
    pub fn put_article(&self, a: &ArticleDoc<'_>) -> Result<()> {
        let f = &self.f;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, a.id);
        d.add_text(f.kind, Kind::Article.as_str());
        d.add_text(f.lang, a.lang);
        d.add_text(f.group, a.group);
        d.add_text(f.slug, a.slug);
        if let Some(c) = a.category {
            d.add_text(f.category, c);
        }
        d.add_text(f.visibility, if a.public { "public" } else { "internal" });
        d.add_text(
            f.status,
            if a.published {
                "published"
            } else {
                "unpublished"
            },
        );
        d.add_text(f.title, a.title);
        let body = if a.tags.is_empty() {
            a.text.to_string()
        } else {
            format!("{}\n\n{}", a.text, a.tags.join(" "))
        };
        d.add_text(f.body, &body);
        self.stems(&mut d, a.lang, a.title, &body);
        d.add_i64(f.updated, a.updated);
        let w = self.writer();
        w.delete_term(Term::from_field_text(f.id, a.id));
        w.add_document(d)?;
        Ok(())
    }

    /// Adds a message, replacing any earlier copy of it (a message moved by a merge or a
    /// split, a subject changed).
    pub fn put_message(&self, m: &MessageDoc<'_>) -> Result<()> {
        let d = self.message_doc(m);
        let w = self.writer();
        w.delete_term(Term::from_field_text(self.f.id, m.id));
        w.add_document(d)?;
        Ok(())
    }

    /// Adds messages the index cannot hold yet (just written). Cheaper than
    /// [`Self::put_message`]: every delete is looked up in every segment at the next commit.
    /// The documents go to tantivy's indexing thread in one batch, not one hand-over (and
    /// one wake-up of that thread) each.
    pub fn add_messages(&self, messages: &[MessageDoc<'_>]) -> Result<()> {
        let docs: Vec<UserOperation> = messages
            .iter()
            .map(|m| UserOperation::Add(self.message_doc(m)))
            .collect();
        self.writer().run(docs)?;
        Ok(())
    }

    fn message_doc(&self, m: &MessageDoc<'_>) -> TantivyDocument {
        let f = &self.f;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, m.id);
        d.add_text(f.kind, Kind::Message.as_str());
        let lang = m
            .lang
            .map(str::to_string)
            .or_else(|| language::detect(m.text));
        if let Some(l) = &lang {
            d.add_text(f.lang, l);
        }
        d.add_text(f.conversation, m.conversation);
        d.add_i64(f.reference, m.reference);
        d.add_u64(f.note, m.note as u64);
        d.add_text(f.title, m.subject);
        d.add_text(f.body, m.text);
        self.stems(&mut d, lang.as_deref().unwrap_or(""), m.subject, m.text);
        d.add_i64(f.updated, m.created);
        d
    }

    /// The stemmed copies, for the languages that have a stemmer.
    fn stems(&self, d: &mut TantivyDocument, lang: &str, title: &str, body: &str) {
        let f = &self.f;
        match lang {
            "en" => {
                d.add_text(f.title_en, title);
                d.add_text(f.body_en, body);
            }
            "el" => {
                d.add_text(f.title_el, title);
                d.add_text(f.body_el, body);
            }
            _ => {}
        }
    }

    pub fn delete(&self, id: &str) {
        self.writer()
            .delete_term(Term::from_field_text(self.f.id, id));
    }

    /// Deletes a document whose text must not outlive it (a customer's erasure): a deleted
    /// document's words stay in its segment's files until a merge rewrites them, so the
    /// next [`Self::purge_if_due`] rewrites every segment holding deleted documents.
    pub fn erase(&self, id: &str) {
        self.delete(id);
        self.purge_due.store(true, Ordering::Relaxed);
    }

    /// After a commit that followed [`Self::erase`]: rewrites the committed segments that
    /// hold deleted documents, without them, and tantivy removes the old segments' files.
    /// Should that fail (a segment already being merged), the next call tries again.
    pub fn purge_if_due(&self) -> Result<()> {
        if !self.purge_due.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let purged = self.purge();
        if purged.is_err() {
            self.purge_due.store(true, Ordering::Relaxed);
        }
        purged
    }

    fn purge(&self) -> Result<()> {
        let segments: Vec<_> = self
            .index
            .searchable_segment_metas()?
            .iter()
            .filter(|m| m.has_deletes())
            .map(|m| m.id())
            .collect();
        if !segments.is_empty() {
            self.writer().merge(&segments).wait()?;
        }
        Ok(())
    }

    /// Forgets every document (before a rebuild).
    pub fn clear(&self) -> Result<()> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Forgets what was put since the last commit.
    pub fn rollback(&self) -> Result<()> {
        self.writer().rollback()?;
        Ok(())
    }

    /// Makes what was put so far durable and visible, recording `checkpoint` (the last
    /// event applied) with it.
    pub fn commit(&self, checkpoint: i64) -> Result<()> {
        {
            let mut w = self.writer();
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&checkpoint.to_string());
            prepared.commit()?;
        }
        // Searches see the commit once the reader is reloaded; should that fail, the commit
        // stands all the same (the next reload shows it).
        let reloaded = self.reader.reload();
        self.visible.store(checkpoint, Ordering::Release);
        reloaded?;
        Ok(())
    }

    pub fn search(&self, q: &Query<'_>) -> Result<Found> {
        let f = self.f;
        let mut words = analysis::analyser(WORDS);
        let mut all = analysis::terms(&mut words, q.text);
        let mut seen = HashSet::new();
        all.retain(|t| seen.insert(t.clone()));
        let truncated = all.len() > MAX_QUERY_WORDS;
        all.truncate(MAX_QUERY_WORDS);
        let query_lang = language::detect(q.text)
            .filter(|l| l == "te" || l == "el")
            .or(q.lang.map(str::to_string));
        if all.is_empty() {
            return Ok(Found {
                hits: Vec::new(),
                truncated,
                lang: query_lang,
            });
        }
        let kept = all.join(" ");

        let mut should: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        let term_query = |field: Field, t: &str, boost: f32| -> (Occur, Box<dyn TQuery>) {
            let tq = TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            );
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(tq), boost)),
            )
        };
        let searcher = self.reader.searcher();
        for t in &all {
            should.push(term_query(f.title, t, 3.0));
            should.push(term_query(f.body, t, 1.0));
            // A word the index does not know may be a typo: near words are looked up too.
            let letters = t.chars().count();
            let known = [f.title, f.body].iter().any(|field| {
                searcher
                    .doc_freq(&Term::from_field_text(*field, t))
                    .unwrap_or(0)
                    > 0
            });
            if !known && analysis::typo_tolerant(t) && letters >= 5 {
                let distance = if letters >= 9 { 2 } else { 1 };
                for (field, boost) in [(f.title, 0.9), (f.body, 0.3)] {
                    let fq = FuzzyTermQuery::new(Term::from_field_text(field, t), distance, true);
                    should.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(fq), boost)),
                    ));
                }
            }
        }
        for (name, title, body) in [
            (ENGLISH, f.title_en, f.body_en),
            (GREEK, f.title_el, f.body_el),
        ] {
            let stems = analysis::terms(&mut analysis::analyser(name), &kept);
            for t in stems.iter().collect::<HashSet<_>>() {
                should.push(term_query(title, t, 3.0));
                should.push(term_query(body, t, 1.0));
            }
        }
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![
            (Occur::Must, Box::new(BooleanQuery::new(should))),
            (Occur::Must, exact(f.kind, q.kind.as_str())),
        ];
        if q.kind == Kind::Article {
            if q.public_only {
                clauses.push((Occur::Must, exact(f.visibility, "public")));
            }
            if q.published_only {
                clauses.push((Occur::Must, exact(f.status, "published")));
            }
        }
        let query = BooleanQuery::new(clauses);

        // BM25 picks the candidates (with block-max pruning, so a common word costs
        // little); freshness and the query's language then reorder them.
        let fetch = (q.limit.max(1) * 4).min(400);
        let top: Vec<(f32, DocAddress)> =
            searcher.search(&query, &TopDocs::with_limit(fetch).order_by_score())?;
        let mut candidates: Vec<(Hit, DocAddress)> = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let get = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let lang = get(f.lang).unwrap_or_default();
            let updated = doc
                .get_first(f.updated)
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            let age_days = ((q.now - updated).max(0) as f32) / 86_400.0;
            // Fresher texts rank a little higher: up to a tenth, halved every half year.
            let mut score = score * (1.0 + 0.1 * 0.5f32.powf(age_days / 182.0));
            // The query's language first: a translation never outranks the text in it.
            if query_lang.as_deref() == Some(lang.as_str()) {
                score *= 1.5;
            }
            candidates.push((
                Hit {
                    id: get(f.id).unwrap_or_default(),
                    lang,
                    title: get(f.title).unwrap_or_default(),
                    title_html: String::new(),
                    snippet_html: get(f.body).unwrap_or_default(),
                    score,
                    coverage: 0.0,
                    matched: Vec::new(),
                    group: get(f.group),
                    slug: get(f.slug),
                    category: get(f.category),
                    conversation: get(f.conversation),
                    reference: doc.get_first(f.reference).and_then(|v| v.as_i64()),
                    note: doc.get_first(f.note).and_then(|v| v.as_u64()) == Some(1),
                    updated,
                },
                address,
            ));
        }
        candidates.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
        if q.kind == Kind::Article && q.one_per_group {
            let mut groups = HashSet::new();
            candidates.retain(|(h, _)| groups.insert(h.group.clone()));
        }
        candidates.truncate(q.limit);
        let (candidates, addresses): (Vec<Hit>, Vec<DocAddress>) = candidates.into_iter().unzip();

        // For the hits shown: the matched words highlighted, and how much of the question
        // each covers.
        let highlight = |field: Field, chars: usize| {
            let terms = all.iter().map(|t| (t.clone(), 1.0)).collect();
            let analyser = self
                .index
                .tokenizer_for_field(field)
                .unwrap_or_else(|_| TextAnalyzer::from(analysis::Words));
            SnippetGenerator::new(terms, analyser, field, chars)
        };
        let body_snippets = highlight(f.body, 180);
        let title_snippets = highlight(f.title, 400);
        let content: Vec<&String> = all.iter().filter(|t| !is_little_word(t)).collect();
        // Each word with the forms it is indexed under: (field, term) pairs to look up.
        let forms: Vec<Vec<(Field, String)>> = content
            .iter()
            .map(|t| {
                let mut v = vec![(f.title, t.to_string()), (f.body, t.to_string())];
                for (name, title, body) in [
                    (ENGLISH, f.title_en, f.body_en),
                    (GREEK, f.title_el, f.body_el),
                ] {
                    for stem in analysis::terms(&mut analysis::analyser(name), t) {
                        v.push((title, stem.clone()));
                        v.push((body, stem));
                    }
                }
                v
            })
            .collect();
        let mut hits = candidates;
        for (hit, address) in hits.iter_mut().zip(&addresses) {
            let body = std::mem::take(&mut hit.snippet_html);
            let mut matched = Vec::new();
            for (t, forms) in content.iter().zip(&forms) {
                if forms
                    .iter()
                    .any(|(field, term)| holds(&searcher, *address, *field, term))
                {
                    matched.push(t.to_string());
                }
            }
            hit.coverage = if content.is_empty() {
                0.0
            } else {
                matched.len() as f32 / content.len() as f32
            };
            hit.matched = matched;
            // The passage comes from the first 20 KB: a long article is not read whole.
            let body = match body.char_indices().nth(20_000) {
                Some((cut, _)) => body[..cut].to_string(),
                None => body,
            };
            let s = title_snippets.snippet(&hit.title);
            hit.title_html = if s.is_empty() {
                seva_core::text::escape_html(&hit.title)
            } else {
                s.to_html()
            };
            let s = body_snippets.snippet(&body);
            hit.snippet_html = if s.is_empty() {
                seva_core::text::escape_html(&seva_core::text::truncate_graphemes(&body, 160))
            } else {
                s.to_html()
            };
        }
        Ok(Found {
            hits,
            truncated,
            lang: query_lang,
        })
    }
}

fn exact(field: Field, value: &str) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// Whether the document at `address` holds `term` in `field`, read from the index.
fn holds(searcher: &tantivy::Searcher, address: DocAddress, field: Field, term: &str) -> bool {
    use tantivy::DocSet;
    let segment = searcher.segment_reader(address.segment_ord);
    let Ok(inverted) = segment.inverted_index(field) else {
        return false;
    };
    match inverted.read_postings(
        &Term::from_field_text(field, term),
        IndexRecordOption::Basic,
    ) {
        Ok(Some(mut postings)) => {
            let first = postings.doc();
            first == address.doc_id
                || (first < address.doc_id && postings.seek(address.doc_id) == address.doc_id)
        }
        _ => false,
    }
}

/// The commonest little words of Seva's languages, folded: they say nothing about what a
/// question is about, so they do not count towards coverage.
fn is_little_word(term: &str) -> bool {
    const LITTLE: &[&str] = &[
        // English
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "be",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "my",
        "me",
        "i",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "do",
        "does",
        "did",
        "how",
        "what",
        "when",
        "where",
        "why",
        "can",
        "could",
        "would",
        "please",
        "have",
        "has",
        "not",
        "no",
        "yes",
        "hi",
        "hello",
        "thanks",
        "get",
        "from",
        "by",
        "we",
        "our",
        "there",
        "will",
        "should",
        "about",
        "any",
        "some",
        "if",
        "so",
        "am",
        "help",
        // Greek (folded)
        "ο",
        "η",
        "το",
        "οι",
        "τα",
        "του",
        "τησ",
        "των",
        "τον",
        "την",
        "και",
        "να",
        "σε",
        "με",
        "για",
        "απο",
        "ειναι",
        "δεν",
        "μου",
        "σου",
        "πωσ",
        "τι",
        "που",
        "θα",
        "στο",
        "στη",
        "στην",
        "στα",
        "στον",
        "ενα",
        "μια",
        "εγω",
        "μπορω",
        "γεια",
        // Tagalog
        "ang",
        "ng",
        "mga",
        "sa",
        "na",
        "ay",
        "po",
        "ako",
        "ko",
        "mo",
        "ka",
        "ba",
        "ito",
        "iyon",
        "kung",
        "para",
        "paano",
        "ano",
        "saan",
        "bakit",
        "at",
        "pa",
        "rin",
        "din",
        "lang",
        "naman",
        "si",
        "ni",
        "kay",
        "hindi",
        "oo",
        "ang",
        "may",
        "yung",
        "nang",
        // Telugu
        "నా",
        "నేను",
        "మీ",
        "మీరు",
        "ఈ",
        "ఆ",
        "ఎలా",
        "ఏమి",
        "ఎందుకు",
        "ఎక్కడ",
        "కు",
        "లో",
        "మరియు",
        "మరి",
        "మా",
        "ఒక",
        "కూడా",
        "ఉంది",
        "లేదు",
        "అది",
        "ఇది",
    ];
    LITTLE.contains(&term)
}
