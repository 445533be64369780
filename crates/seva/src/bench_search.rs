//! `seva bench --search`: the search index on its own (issue #6). Articles and messages in
//! four languages are made from the words of the seed texts (Telugu, Greek, Tagalog) and
//! an English support vocabulary, indexed the way the server indexes them, then searched
//! with one- to three-word queries in each language. Reports indexing throughput, index
//! size, and query latency for articles and for messages.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use seva_search::{ArticleDoc, Kind, MessageDoc, Query, SearchIndex};

const ENGLISH: &str = "order refund delivery parcel address account password invoice payment card bank \
    shipping return exchange warranty repair broken missing late cancel subscription plan upgrade \
    downgrade price discount coupon receipt login email phone number change update help support agent \
    customer service product size colour stock available week day month store online app website error \
    charge twice wrong item damaged box courier tracking status contact reply question answer problem \
    issue thanks please today tomorrow yesterday still waiting since promise quickly soon again";

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn vocabularies() -> Result<Vec<(&'static str, Vec<String>)>> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/seeds");
    let mut te = Vec::new();
    let mut el = Vec::new();
    let mut tl = Vec::new();
    for entry in std::fs::read_dir(&seeds)
        .with_context(|| format!("the seed texts at {}", seeds.display()))?
    {
        let text = std::fs::read_to_string(entry?.path())?;
        let words = text
            .split(|c: char| !c.is_alphabetic() && !seva_core::text::is_mark(c))
            .filter(|w| w.chars().count() > 2);
        let into = if text.contains('క') {
            &mut te
        } else if text.contains('ε') {
            &mut el
        } else {
            &mut tl
        };
        into.extend(words.map(str::to_string));
    }
    for v in [&mut te, &mut el, &mut tl] {
        v.sort();
        v.dedup();
    }
    let en = ENGLISH.split_whitespace().map(str::to_string).collect();
    Ok(vec![("te", te), ("el", el), ("tl", tl), ("en", en)])
}

fn words(rng: &mut Rng, vocab: &[String], n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&vocab[rng.below(vocab.len())]);
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn run(articles: usize, messages: usize, queries: usize) -> Result<()> {
    let vocab = vocabularies()?;
    let dir = std::env::temp_dir().join(format!("seva-bench-search-{}", std::process::id()));
    let index = SearchIndex::open(&dir, 48 * 1024 * 1024)?;
    let mut rng = Rng(0x5e7a_5eed);
    let now = 1_790_000_000i64;

    let started = Instant::now();
    for i in 0..articles {
        let (lang, v) = &vocab[i % vocab.len()];
        let title = {
            let n = 4 + rng.below(5);
            words(&mut rng, v, n)
        };
        let body = {
            let n = 100 + rng.below(200);
            words(&mut rng, v, n)
        };
        let id = format!("a{i}");
        index.put_article(&ArticleDoc {
            id: &id,
            group: &id,
            lang,
            slug: &id,
            title: &title,
            text: &body,
            tags: &[],
            category: None,
            public: true,
            published: true,
            updated: now - rng.below(1_000) as i64 * 86_400,
        })?;
    }
    index.commit(1)?;
    let article_secs = started.elapsed().as_secs_f64();
    let after_articles = dir_bytes(&dir);

    let started = Instant::now();
    // In batches, as the server reads them from the store and hands them to the index.
    let batch = seva_store::messages::SEARCHABLE_BATCH;
    for first in (0..messages).step_by(batch) {
        let made: Vec<(String, String, String, i64)> = (first..messages.min(first + batch))
            .map(|i| {
                let (_, v) = &vocab[i % vocab.len()];
                let n = 5 + rng.below(40);
                let text = words(&mut rng, v, n);
                let created = now - rng.below(365) as i64 * 86_400;
                (format!("m{i}"), format!("c{}", i / 5), text, created)
            })
            .collect();
        let docs: Vec<MessageDoc<'_>> = made
            .iter()
            .zip(first..)
            .map(|((id, conversation, text, created), i)| MessageDoc {
                id,
                conversation,
                reference: (i / 5) as i64,
                subject: "",
                text,
                note: false,
                // Detected, as the server does.
                lang: None,
                created: *created,
            })
            .collect();
        index.add_messages(&docs)?;
        if first / 200_000 != (first + batch) / 200_000 {
            index.commit(2)?;
        }
    }
    index.commit(3)?;
    let message_secs = started.elapsed().as_secs_f64();
    let message_bytes = dir_bytes(&dir).saturating_sub(after_articles);

    let mut measure = |kind: Kind| -> Result<(f64, f64, f64)> {
        let mut times = Vec::with_capacity(queries);
        let mut found = 0usize;
        for i in 0..queries {
            let (lang, v) = &vocab[i % vocab.len()];
            let q = {
                let n = 1 + rng.below(3);
                words(&mut rng, v, n)
            };
            let t = Instant::now();
            let r = index.search(&Query {
                text: &q,
                kind,
                lang: Some(lang),
                public_only: kind == Kind::Article,
                published_only: kind == Kind::Article,
                one_per_group: kind == Kind::Article,
                limit: 10,
                now,
            })?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            found += usize::from(!r.hits.is_empty());
        }
        times.sort_by(f64::total_cmp);
        Ok((
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            found as f64 / queries as f64,
        ))
    };
    let (a50, a99, a_found) = measure(Kind::Article)?;
    let (m50, m99, m_found) = measure(Kind::Message)?;
    println!(
        "search index (one writer thread, {} MB heap), this machine:",
        48
    );
    println!(
        "  articles: {articles} indexed in {article_secs:.1} s = {:.0}/s; index {:.0} MB",
        articles as f64 / article_secs,
        after_articles as f64 / 1e6
    );
    println!(
        "  messages: {messages} indexed in {message_secs:.1} s = {:.0}/s; {:.0} MB, {:.0} MB per million",
        messages as f64 / message_secs,
        message_bytes as f64 / 1e6,
        message_bytes as f64 / 1e6 / (messages.max(1) as f64 / 1e6)
    );
    println!(
        "  article queries: p50 {a50:.2} ms, p99 {a99:.2} ms ({queries} queries, {:.0}% with hits)",
        a_found * 100.0
    );
    println!(
        "  message queries: p50 {m50:.2} ms, p99 {m99:.2} ms ({queries} queries, {:.0}% with hits)",
        m_found * 100.0
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
