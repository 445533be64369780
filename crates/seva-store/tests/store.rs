//! Repository tests. The same tests run on SQLite (default) and on PostgreSQL when
//! `SEVA_TEST_POSTGRES` names a server (`postgres://postgres@127.0.0.1:5432/postgres`);
//! each PostgreSQL test creates its own database and drops it afterwards.

use std::sync::Arc;

use seva_core::agent::Role;
use seva_core::contact::IdentityKind;
use seva_core::conversation::{Channel, MessageKind, Priority, Status};
use seva_store::conversations::{self, Arrival, Assignment, Filter, Reply, Viewer};
use seva_store::{Error, Store, agents, contacts, events, idempotency, jobs, op, teams};

/// A store on a fresh database, dropped with the value.
struct TestStore {
    store: Store,
    _dir: Option<tempdir::Dir>,
    pg: Option<(String, String)>,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop on a thread of its own: this may run inside the test's runtime.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    tokio::spawn(conn);
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .unwrap();
                });
            })
            .join()
            .unwrap();
        }
    }
}

fn unique() -> String {
    format!("{}_{}", std::process::id(), uuid_like())
}

fn uuid_like() -> String {
    seva_core::EventId::new().to_string().replace('-', "")
}

async fn store() -> TestStore {
    match std::env::var("SEVA_TEST_POSTGRES") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("seva_test_{}", unique());
            let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                .await
                .expect("SEVA_TEST_POSTGRES is set but the server cannot be reached");
            tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let url = replace_database(&admin_url, &name);
            let store = Store::open_postgres(&url, 8).await.unwrap();
            TestStore {
                store,
                _dir: None,
                pg: Some((admin_url, name)),
            }
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("seva-store-test-{}", unique()));
            std::fs::create_dir_all(&dir).unwrap();
            let store = Store::open_sqlite(&dir.join("seva.db")).await.unwrap();
            TestStore {
                store,
                _dir: Some(tempdir::Dir(dir)),
                pg: None,
            }
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, db)) if !db.contains('@') && !base.ends_with('/') => format!("{base}/{name}"),
        _ => format!("{}/{name}", url.trim_end_matches('/')),
    }
}

async fn agent(s: &Store, email: &str, role: Role) -> Viewer {
    let email = email.to_string();
    let a = s
        .write(op!(c => agents::create(c, agents::NewAgent {
            email: &email, name: "Test Agent", role, language: "en", password_hash: None, must_change_password: false,
        }, "system").await))
        .await
        .unwrap();
    Viewer {
        agent_id: a.id,
        role: a.role,
        teams: a.teams,
    }
}

fn arrival<'a>(email: &'a str, subject: &'a str, text: &'a str) -> Arrival<'a> {
    Arrival {
        channel: Channel::WebForm,
        identity: (IdentityKind::Email, email),
        name: Some("Ravi"),
        subject,
        text,
        files: &[],
        provider_id: None,
        continues: None,
        inbox_id: None,
        team_id: None,
        customer_key_hash: None,
        priority: Priority::Normal,
        recorded_by: None,
        owner: None,
        email: Default::default(),
        bot: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_writes_an_agent_answers_and_solves_and_the_log_has_every_step() {
    let t = store().await;
    let s = &t.store;
    let ravi = agent(s, "ravi.agent@example.com", Role::Agent).await;
    let r = s.write(op!(c => conversations::ingest(c, arrival("lakshmi@example.com", "నా ఆర్డర్ రాలేదు", "రెండు వారాలైంది")).await)).await.unwrap();
    assert!(!r.duplicate);
    let v = ravi.clone();
    let id = r.conversation_id;
    s.write(op!(c => conversations::reply(c, &v, id, Reply { text: "క్షమించండి, చూస్తున్నాము", kind: MessageKind::Outbound, files: &[], then: Some(Status::Pending) }).await)).await.unwrap();
    let v = ravi.clone();
    s.write(op!(c => conversations::set_status(c, &v, id, Status::Solved).await))
        .await
        .unwrap();

    let (conv, log) = s.read(op!(c => Ok((conversations::get(c, id).await?, events::for_conversation(c, id).await?)))).await.unwrap();
    assert_eq!(conv.status, Status::Solved);
    assert_eq!(
        conv.owner_id,
        Some(ravi.agent_id),
        "the first agent to answer owns the conversation"
    );
    assert_eq!(conv.subject, "నా ఆర్డర్ రాలేదు");
    assert!(conv.first_response_at.is_some());
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "message.created",
            "conversation.assigned",
            "conversation.status_changed",
            "conversation.status_changed"
        ]
    );
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
    let jobs = s
        .read(op!(c => jobs::list(c, Some("queued"), 10).await))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "the reply waits in the queue for delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_all_committed_and_a_failing_one_spoils_none_of_the_others() {
    let t = store().await;
    let s = Arc::new(t.store.clone());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let email = format!("c{i}@example.com");
            let text = if i % 50 == 7 {
                String::new()
            } else {
                format!("message {i}")
            };
            s.write(op!(c => conversations::ingest(c, arrival(&email, "subject", &text)).await))
                .await
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Invalid { field, .. }) if field == "text" => refused += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((ok, refused), (196, 4));
    let (convs, contacts_n) = s
        .read(op!(c => Ok((
            c.query_one("SELECT count(*) FROM conversations", &[]).await?.int(0)?,
            c.query_one("SELECT count(*) FROM contacts", &[]).await?.int(0)?,
        ))))
        .await
        .unwrap();
    assert_eq!(convs, 196);
    assert_eq!(
        contacts_n, 196,
        "a refused message left no half-written contact behind"
    );
}

/// A write for [`writes_that_may_run_again_fail_alone`]: puts `key` in a table and an
/// event in the log, then fails as `then` says.
fn put(
    key: &'static str,
    then: &'static str,
) -> impl for<'c> Fn(
    &'c mut dyn seva_store::Conn,
) -> seva_store::BoxFuture<'c, Result<&'static str, Error>>
+ Send
+ Sync
+ 'static {
    move |c: &mut dyn seva_store::Conn| -> seva_store::BoxFuture<'_, Result<&'static str, Error>> {
        Box::pin(async move {
            if then == "fail before" {
                return Err(Error::invalid("before", "refused before writing"));
            }
            c.execute(
                "INSERT INTO message_sources (sha256, bytes) VALUES ($1, $2)",
                &[
                    seva_store::Value::Text(key.into()),
                    seva_store::Value::Blob(vec![1]),
                ],
            )
            .await?;
            events::append(
                c,
                "test.put",
                None,
                "system",
                serde_json::json!({ "key": key }),
            )
            .await?;
            match then {
                "fail after" => Err(Error::invalid("after", "refused after writing")),
                "panic after" => panic!("a write that panics after writing"),
                _ => Ok(key),
            }
        })
    }
}

/// Writes that may run again share the SQLite writer's transaction without savepoints of
/// their own: held behind a slow write, a dozen of them land in one commit, where one
/// that fails before writing, one whose row breaks a unique key, one that fails after
/// writing and one that panics after writing are each refused alone, a write that may
/// run only once sits among them, and everything else is stored once, its event
/// published once. (On PostgreSQL every write is its own transaction; the answers are
/// the same.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_may_run_again_fail_alone() {
    let t = store().await;
    let s = Arc::new(t.store.clone());
    let mut heard = s.subscribe();
    let holder = {
        let s = s.clone();
        tokio::spawn(async move {
            // It writes its row first, so that on PostgreSQL too the duplicate below
            // waits for it and is the one refused.
            s.write(op!(c => {
                let held = put("held", "")(c).await;
                std::thread::sleep(std::time::Duration::from_millis(300));
                held
            }))
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // SQLite's writer turns a panic into an error, so that one request cannot take down
    // the thread every write needs; on PostgreSQL the panic stays in its own task.
    let panics_then = match s.dialect() {
        seva_store::Dialect::Sqlite => "panic after",
        seva_store::Dialect::Postgres => "fail after",
    };
    let commits = || s.write_stats().map(|w| w.commits);
    let commits_before = commits();
    let (g0, before, g1, after, g2, panics, duplicate, g3, o, g4, after2, g5) = tokio::join!(
        s.write_repeatable(put("good-0", "")),
        s.write_repeatable(put("before", "fail before")),
        s.write_repeatable(put("good-1", "")),
        s.write_repeatable(put("after", "fail after")),
        s.write_repeatable(put("good-2", "")),
        s.write_repeatable(put("panics", panics_then)),
        s.write_repeatable(put("held", "")),
        s.write_repeatable(put("good-3", "")),
        s.write(op!(c => put("once", "")(c).await)),
        s.write_repeatable(put("good-4", "")),
        s.write_repeatable(put("after-2", "fail after")),
        s.write_repeatable(put("good-5", "")),
    );
    assert_eq!(holder.await.unwrap().unwrap(), "held");
    if let (Some(before), Some(after)) = (commits_before, commits()) {
        assert!(
            after - before <= 2,
            "the writes behind the slow one share one commit: {} commits",
            after - before
        );
    }
    for (got, key) in [
        (g0, "good-0"),
        (g1, "good-1"),
        (g2, "good-2"),
        (g3, "good-3"),
        (o, "once"),
        (g4, "good-4"),
        (g5, "good-5"),
    ] {
        assert_eq!(got.unwrap(), key);
    }
    assert!(
        matches!(before, Err(Error::Invalid { ref field, .. }) if field == "before"),
        "{before:?}"
    );
    assert!(
        matches!(after, Err(Error::Invalid { ref field, .. }) if field == "after"),
        "{after:?}"
    );
    assert!(
        matches!(after2, Err(Error::Invalid { ref field, .. }) if field == "after"),
        "{after2:?}"
    );
    assert!(
        panics.as_ref().is_err_and(|e| {
            let e = e.to_string();
            e.contains("panicked") || e.contains("refused after writing")
        }),
        "{panics:?}"
    );
    assert!(
        duplicate.as_ref().is_err_and(Error::is_unique_violation),
        "{duplicate:?}"
    );

    let expected = [
        "good-0", "good-1", "good-2", "good-3", "good-4", "good-5", "held", "once",
    ];
    let stored = s
        .read(op!(c => {
            let rows = c.query("SELECT sha256 FROM message_sources ORDER BY sha256", &[]).await?;
            rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>, _>>()
        }))
        .await
        .unwrap();
    assert_eq!(stored, expected);
    let mut published = Vec::new();
    while published.len() < expected.len() {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), heard.recv())
            .await
            .expect("every stored write's event is published")
            .unwrap();
        if e.kind == "test.put" {
            published.push(e.data["key"].as_str().unwrap().to_string());
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        heard.try_recv().is_err(),
        "no event is published twice or for a write undone"
    );
    published.sort();
    assert_eq!(published, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_is_stored_once() {
    let t = store().await;
    let s = &t.store;
    let mut first = None;
    for _ in 0..3 {
        let r = s
            .write(op!(c => conversations::ingest(c, Arrival { provider_id: Some("msg-42"), ..arrival("a@example.com", "s", "hello") }).await))
            .await
            .unwrap();
        first.get_or_insert(r.conversation_id);
        assert_eq!(Some(r.conversation_id), first);
    }
    let n = s
        .read(op!(c => c.query_one("SELECT count(*) FROM messages", &[]).await?.int(0)))
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_does_not_see_another_teams_private_queue() {
    let t = store().await;
    let s = &t.store;
    let hr = s
        .write(op!(c => teams::create(c, "HR", true, "system").await))
        .await
        .unwrap();
    let support = s
        .write(op!(c => teams::create(c, "Support", false, "system").await))
        .await
        .unwrap();
    let boss = agent(s, "boss@example.com", Role::Supervisor).await;
    let maria = agent(s, "maria@example.com", Role::Agent).await;
    let mut in_hr = Vec::new();
    for team in [hr.id, support.id] {
        let r = s.write(op!(c => conversations::ingest(c, Arrival { team_id: Some(team), ..arrival("x@example.com", "s", "t") }).await)).await.unwrap();
        in_hr.push(r.conversation_id);
    }
    let m = maria.clone();
    let (list, _) = s
        .read(op!(c => conversations::list(c, &m, &Filter::default(), None, 50).await))
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "Maria sees the support conversation only");
    let (m, hr_conv) = (maria.clone(), in_hr[0]);
    assert!(matches!(
        s.read(op!(c => conversations::get_for(c, &m, hr_conv).await))
            .await,
        Err(Error::NotFound)
    ));
    let m = maria.clone();
    assert!(matches!(
        s.write(op!(c => conversations::set_status(c, &m, hr_conv, Status::Solved).await))
            .await,
        Err(Error::NotFound)
    ));
    let b = boss.clone();
    let (list, _) = s
        .read(op!(c => conversations::list(c, &b, &Filter::default(), None, 50).await))
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    // Once in the team, Maria sees it.
    let maria_id = maria.agent_id;
    s.write(op!(c => teams::add_member(c, hr.id, maria_id, "system").await))
        .await
        .unwrap();
    let m = Viewer {
        teams: vec![hr.id],
        ..maria
    };
    s.read(op!(c => conversations::get_for(c, &m, hr_conv).await))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_and_pages_without_repeating_or_skipping() {
    let t = store().await;
    let s = &t.store;
    let boss = agent(s, "boss@example.com", Role::Admin).await;
    for i in 0..25 {
        let text = format!("t{i}");
        s.write(op!(c => conversations::ingest(c, arrival("p@example.com", "s", &text)).await))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let b = boss.clone();
        let (page, next) = s.read(op!(c => conversations::list(c, &b, &Filter { statuses: vec![Status::Open], ..Filter::default() }, cursor, 10).await)).await.unwrap();
        seen.extend(page.iter().map(|c| c.reference));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen.len(), 25);
    assert_eq!(seen, sorted, "newest first, no repeats");
    let first = seen[0];
    let b = boss.clone();
    let id = s.read(op!(c => c.query_one("SELECT id FROM conversations WHERE seq = $1", seva_store::args![first]).await?.parse::<seva_core::ConversationId>(0))).await.unwrap();
    let (b2, tags) = (boss.clone(), vec!["billing".to_string()]);
    s.write(op!(c => conversations::set_tags(c, &b2, id, &tags, &[]).await))
        .await
        .unwrap();
    let (page, _) = s.read(op!(c => conversations::list(c, &b, &Filter { tag: Some("billing".into()), owner: Some(None), ..Filter::default() }, None, 50).await)).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].tags, ["billing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_to_unknown_agents_or_teams_is_refused_and_changes_nothing() {
    let t = store().await;
    let s = &t.store;
    let boss = agent(s, "boss@example.com", Role::Admin).await;
    let r = s
        .write(op!(c => conversations::ingest(c, arrival("q@example.com", "s", "t")).await))
        .await
        .unwrap();
    let (b, id) = (boss.clone(), r.conversation_id);
    let ghost = seva_core::AgentId::new();
    let err = s.write(op!(c => conversations::assign(c, &b, id, Assignment { owner: Some(Some(ghost)), team: None }).await)).await.unwrap_err();
    assert!(matches!(&err, Error::Invalid { field, .. } if field == "owner_id"));
    let b = boss.clone();
    let c2 = s.write(op!(c => conversations::assign(c, &b, id, Assignment { owner: Some(Some(b.agent_id)), team: None }).await)).await.unwrap();
    assert_eq!(c2.owner_id, Some(boss.agent_id));
    let b = boss.clone();
    let err = s
        .write(op!(c => conversations::set_status(c, &b, id, Status::Open).await))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "status"),
        "already open"
    );
}

/// Whether the queue says a job is due at `now` (what the worker reads before claiming).
async fn due(s: &seva_store::Store, now: seva_core::time::Timestamp) -> bool {
    s.read(op!(c => jobs::anything_due(c, now).await))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_retry_with_backoff_and_end_dead_not_dropped() {
    let t = store().await;
    let s = &t.store;
    let id = s.write(op!(c => jobs::enqueue(c, "deliver", serde_json::json!({"n": 1}), seva_store::now()).await)).await.unwrap();
    let mut now = seva_store::now();
    for attempt in 1..=jobs::MAX_ATTEMPTS {
        assert!(due(s, now).await, "attempt {attempt} is due");
        let claimed = s
            .write(op!(c => jobs::claim(c, now, 60, 10).await))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "attempt {attempt} is claimed");
        assert_eq!(claimed[0].attempts, attempt);
        let again = s
            .write(op!(c => jobs::claim(c, now, 60, 10).await))
            .await
            .unwrap();
        assert!(again.is_empty(), "a claimed job is not claimed twice");
        assert!(
            !due(s, now).await,
            "a claimed job is not due while its lease runs"
        );
        let dead = s
            .write(op!(c => jobs::fail(c, id, "relay refused", now).await))
            .await
            .unwrap();
        assert_eq!(dead, attempt == jobs::MAX_ATTEMPTS);
        let too_soon = s
            .write(op!(c => jobs::claim(c, now, 60, 10).await))
            .await
            .unwrap();
        assert!(too_soon.is_empty(), "the retry waits for its backoff");
        assert!(!due(s, now).await, "nor is a retry before its backoff");
        now = now.plus_seconds(3601);
    }
    let dead = s
        .read(op!(c => jobs::list(c, Some("dead"), 10).await))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("relay refused"));
    s.write(op!(c => jobs::retry(c, id).await)).await.unwrap();
    assert_eq!(
        s.write(op!(c => jobs::claim(c, seva_store::now(), 60, 10).await))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_job_is_claimed_again_after_its_lease() {
    let t = store().await;
    let s = &t.store;
    s.write(op!(c => jobs::enqueue(c, "deliver", serde_json::json!({}), seva_store::now()).await))
        .await
        .unwrap();
    let now = seva_store::now();
    assert_eq!(
        s.write(op!(c => jobs::claim(c, now, 30, 10).await))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!due(s, now).await, "the lease runs");
    let later = now.plus_seconds(31);
    assert!(due(s, later).await, "the lease ran out");
    assert_eq!(
        s.write(op!(c => jobs::claim(c, later, 30, 10).await))
            .await
            .unwrap()
            .len(),
        1,
        "the worker died; the lease ran out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_returns_the_first_answer_and_refuses_a_different_request() {
    let t = store().await;
    let s = &t.store;
    let answer = idempotency::Stored {
        status: 201,
        body: "{\"id\":1}".into(),
    };
    let a = answer.clone();
    s.write(op!(c => idempotency::remember(c, "agent:1", "k1", "hash-a", &a).await))
        .await
        .unwrap();
    let found = s
        .read(op!(c => idempotency::lookup(c, "agent:1", "k1", "hash-a").await))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.body, answer.body);
    let err = s
        .read(op!(c => idempotency::lookup(c, "agent:1", "k1", "hash-b").await))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Invalid { field, .. } if field == "Idempotency-Key"));
    assert!(
        s.read(op!(c => idempotency::lookup(c, "agent:2", "k1", "hash-a").await))
            .await
            .unwrap()
            .is_none(),
        "keys are per caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_contacts_moves_identities_and_history() {
    let t = store().await;
    let s = &t.store;
    let a = s
        .write(op!(c => conversations::ingest(c, arrival("old@example.com", "s", "first")).await))
        .await
        .unwrap();
    let b = s
        .write(op!(c => conversations::ingest(c, arrival("new@example.com", "s", "second")).await))
        .await
        .unwrap();
    let (from, into) = s
        .read(op!(c => Ok((conversations::get(c, a.conversation_id).await?.contact_id, conversations::get(c, b.conversation_id).await?.contact_id))))
        .await
        .unwrap();
    let merged = s
        .write(op!(c => contacts::merge(c, from, into, "agent:test").await))
        .await
        .unwrap();
    assert_eq!(merged.identities.len(), 2);
    assert_eq!(merged.conversation_count, 2);
    let gone = s
        .read(op!(c => contacts::get(c, from).await))
        .await
        .unwrap();
    assert_eq!((gone.merged_into, merged.merged_into), (Some(into), None));
    // The old address now reaches the merged contact.
    let again = s
        .write(op!(c => conversations::ingest(c, arrival("old@example.com", "s", "third")).await))
        .await
        .unwrap();
    let owner = s
        .read(op!(c => Ok(conversations::get(c, again.conversation_id).await?.contact_id)))
        .await
        .unwrap();
    assert_eq!(owner, into);
    assert!(
        s.write(op!(c => contacts::merge(c, into, into, "agent:test").await))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_reach_subscribers_in_order_and_the_feed_pages_by_seq() {
    let t = store().await;
    let s = &t.store;
    let mut rx = s.subscribe();
    for i in 0..5 {
        let text = format!("m{i}");
        s.write(op!(c => conversations::ingest(c, arrival("e@example.com", "s", &text)).await))
            .await
            .unwrap();
    }
    let mut seqs = Vec::new();
    for _ in 0..5 {
        seqs.push(rx.recv().await.unwrap().seq);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // On PostgreSQL the feed serves an event once every older transaction in the cluster
    // has ended (so it never skips one), which can lag a moment behind the commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let feed = loop {
        let first = s
            .read(op!(c => events::after(c, 0, 3).await))
            .await
            .unwrap();
        let last_seen = first.last().map_or(0, |e| e.seq);
        let rest = s
            .read(op!(c => events::after(c, last_seen, 100).await))
            .await
            .unwrap();
        let feed: Vec<i64> = first.iter().chain(rest.iter()).map(|e| e.seq).collect();
        // Both reads must see every event: another database's transaction that ends
        // between them lets the second see what the first could not yet.
        if (first.len() == 3 && feed.len() == 5) || std::time::Instant::now() > deadline {
            assert_eq!(first.len(), 3, "the first page holds the limit");
            break feed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(feed, seqs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_agents_and_teams_are_conflicts() {
    let t = store().await;
    let s = &t.store;
    agent(s, "same@example.com", Role::Agent).await;
    let e = s
        .write(op!(c => agents::create(c, agents::NewAgent { email: "SAME@example.com", name: "x", role: Role::Agent, language: "en", password_hash: None, must_change_password: false }, "system").await))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    s.write(op!(c => teams::create(c, "Billing", false, "system").await))
        .await
        .unwrap();
    assert!(matches!(
        s.write(op!(c => teams::create(c, "Billing", false, "system").await))
            .await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solved_conversation_leaves_the_active_views_and_a_customer_reply_brings_it_back() {
    let t = store().await;
    let s = &t.store;
    let boss = agent(s, "boss@example.com", Role::Admin).await;
    let active = Filter {
        statuses: vec![Status::Open, Status::Pending, Status::OnHold],
        ..Filter::default()
    };
    let done = Filter {
        statuses: vec![Status::Solved, Status::Closed],
        ..Filter::default()
    };
    let count = |f: &Filter| {
        let (f, b) = (f.clone(), boss.clone());
        async move {
            s.read(op!(c => conversations::list(c, &b, &f, None, 50).await))
                .await
                .unwrap()
                .0
                .len()
        }
    };
    let r = s
        .write(op!(c => conversations::ingest(c, arrival("a@example.com", "s", "first")).await))
        .await
        .unwrap();
    let id = r.conversation_id;
    assert_eq!((count(&active).await, count(&done).await), (1, 0));
    let b = boss.clone();
    s.write(op!(c => conversations::set_status(c, &b, id, Status::OnHold).await))
        .await
        .unwrap();
    assert_eq!(
        (count(&active).await, count(&done).await),
        (1, 0),
        "on hold is still work to do"
    );
    let b = boss.clone();
    s.write(op!(c => conversations::set_status(c, &b, id, Status::Solved).await))
        .await
        .unwrap();
    assert_eq!((count(&active).await, count(&done).await), (0, 1));
    s.write(op!(c => conversations::ingest(c, Arrival { continues: Some(id), ..arrival("a@example.com", "", "not solved after all") }).await)).await.unwrap();
    assert_eq!(
        (count(&active).await, count(&done).await),
        (1, 0),
        "the customer's reply reopened it"
    );
}

/// The per-agent load that routing reads is kept by a trigger on changes of owner, status
/// and channel (conversations are created without an owner); after assignments,
/// reassignments, solving, reopening and merging it equals a count of the conversations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_load_routing_reads_always_equals_the_count_of_active_conversations() {
    let t = store().await;
    let s = &t.store;
    let boss = agent(s, "boss@example.com", Role::Admin).await;
    let other = agent(s, "other@example.com", Role::Agent).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let email = format!("load{n}@example.com");
        let r = s
            .write(op!(c => conversations::ingest(c, arrival(&email, "Load", "hello")).await))
            .await
            .unwrap();
        ids.push(r.conversation_id);
    }
    let (b, o) = (boss.clone(), other.agent_id);
    let ids2 = ids.clone();
    s.write(op!(c => {
        for (i, id) in ids2.iter().enumerate() {
            let owner = if i % 2 == 0 { b.agent_id } else { o };
            conversations::assign(c, &b, *id, Assignment { owner: Some(Some(owner)), team: None }).await?;
        }
        // Reassign one, solve two, reopen one, unassign one, merge one into another.
        conversations::assign(c, &b, ids2[1], Assignment { owner: Some(Some(b.agent_id)), team: None }).await?;
        conversations::set_status(c, &b, ids2[2], Status::Solved).await?;
        conversations::set_status(c, &b, ids2[3], Status::Solved).await?;
        conversations::set_status(c, &b, ids2[3], Status::Open).await?;
        conversations::assign(c, &b, ids2[4], Assignment { owner: Some(None), team: None }).await?;
        conversations::merge(c, &b, ids2[5], ids2[0]).await?;
        Ok(())
    }))
    .await
    .unwrap();
    let (load, counted) = s
        .read(op!(c => {
            let load = c.query(
                "SELECT agent_id || '/' || channel, active FROM agent_load WHERE active <> 0 AND channel <> '*' ORDER BY 1",
                &[],
            ).await?;
            let counted = c.query(
                "SELECT owner_id || '/' || channel, count(*) FROM conversations WHERE active = 1 AND owner_id IS NOT NULL \
                 GROUP BY owner_id, channel ORDER BY 1",
                &[],
            ).await?;
            let pairs = |rows: &[seva_store::Row]| -> Vec<(String, i64)> {
                rows.iter().map(|r| (r.text(0).unwrap(), r.int(1).unwrap())).collect()
            };
            let totals = c.query(
                "SELECT agent_id || '/*', active FROM agent_load WHERE active <> 0 AND channel = '*' ORDER BY 1",
                &[],
            ).await?;
            let counted_totals = c.query(
                "SELECT owner_id || '/*', count(*) FROM conversations WHERE active = 1 AND owner_id IS NOT NULL \
                 GROUP BY owner_id ORDER BY 1",
                &[],
            ).await?;
            assert_eq!(pairs(&totals), pairs(&counted_totals), "the totals under '*'");
            Ok((pairs(&load), pairs(&counted)))
        }))
        .await
        .unwrap();
    assert_eq!(load, counted);
    // Boss keeps 0 and 1 (reassigned to him); other keeps 3 (solved and reopened). 2 was
    // solved, 4 unassigned, 5 merged away.
    let mut expected = vec![
        (format!("{}/web_form", boss.agent_id), 2),
        (format!("{}/web_form", other.agent_id), 1),
    ];
    expected.sort();
    assert_eq!(load, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_found_by_name_in_any_case_and_without_accents_in_every_script() {
    let mut t = store().await;
    let people = [
        ("eleni@example.gr", "Ελένη Παπαδοπούλου"),
        ("odysseas@example.gr", "ΟΔΥΣΣΕΑΣ Σταύρου"),
        ("ravi@example.in", "రవి కుమార్"),
        ("ana@example.ph", "Ana María dela Cruz"),
    ];
    for (email, name) in people {
        t.store
            .write(op!(c => {
                let mut a = arrival(email, "s", "hello");
                a.name = Some(name);
                conversations::ingest(c, a).await
            }))
            .await
            .unwrap();
    }
    async fn names(s: &Store, q: &str) -> Vec<String> {
        let q = q.to_string();
        let mut found: Vec<String> = s
            .read(op!(c => contacts::list(c, Some(&q), 10).await))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        found.sort();
        found
    }
    let s = &t.store;
    for (q, want) in [
        // Lower case, no accents: SQL's lower() alone knows neither on SQLite.
        ("ελενη", "Ελένη Παπαδοπούλου"),
        ("ΠΑΠΑΔΟΠΟΥΛΟΥ", "Ελένη Παπαδοπούλου"),
        // Final sigma and capitals meet the word as written.
        ("Οδυσσέας", "ΟΔΥΣΣΕΑΣ Σταύρου"),
        ("οδυσσεας σταυρου", "ΟΔΥΣΣΕΑΣ Σταύρου"),
        // Telugu's vowel signs are part of the word, not accents.
        ("కుమార్", "రవి కుమార్"),
        ("maria", "Ana María dela Cruz"),
        ("DELA CRUZ", "Ana María dela Cruz"),
        // Identities still match, lower-cased.
        ("RAVI@EXAMPLE", "రవి కుమార్"),
    ] {
        assert_eq!(names(s, q).await, vec![want.to_string()], "query {q:?}");
    }
    assert_eq!(names(s, ".gr").await.len(), 2);
    // LIKE's own characters are matched as written.
    assert!(names(s, "%").await.is_empty());
    assert!(names(s, "_").await.is_empty());
    assert!(names(s, "కుమారి").await.is_empty());

    // A new name is found by its new key, and no longer by the old one.
    let id = s
        .read(op!(c => Ok(contacts::list(c, Some("ravi@example.in"), 1).await?[0].id)))
        .await
        .unwrap();
    s.write(op!(c => contacts::update(c, id, Some("Ραβί Κουμάρ"), None, None, None, "agent:test").await))
        .await
        .unwrap();
    assert_eq!(names(s, "ραβι").await, vec!["Ραβί Κουμάρ".to_string()]);
    assert!(names(s, "కుమార్").await.is_empty());

    // A database from before the key existed: the migration folds the names it holds.
    s.write(op!(c => {
        c.execute("ALTER TABLE contacts DROP COLUMN name_key", &[]).await?;
        c.execute("DELETE FROM schema_migrations WHERE version = 12", &[]).await?;
        Ok(())
    }))
    .await
    .unwrap();
    let reopened = match (&t._dir, &t.pg) {
        (Some(dir), _) => Store::open_sqlite(&dir.0.join("seva.db")).await.unwrap(),
        (None, Some((admin, name))) => Store::open_postgres(&replace_database(admin, name), 2)
            .await
            .unwrap(),
        (None, None) => unreachable!("a test store is on SQLite or PostgreSQL"),
    };
    drop(std::mem::replace(&mut t.store, reopened));
    assert_eq!(
        names(&t.store, "ελενη").await,
        vec!["Ελένη Παπαδοπούλου".to_string()]
    );
    assert_eq!(
        names(&t.store, "οδυσσεας").await,
        vec!["ΟΔΥΣΣΕΑΣ Σταύρου".to_string()]
    );
    assert_eq!(
        names(&t.store, "ραβι").await,
        vec!["Ραβί Κουμάρ".to_string()]
    );
}
