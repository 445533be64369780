//! The desk end to end, through the real server: a customer writes through the web form,
//! an agent answers and solves through the API, the customer reads the answer on their
//! request page, and the event log holds every step in order.

mod common;

use common::{ADMIN, Seva, read, reference_in, submit_form};
use serde_json::{Value, json};

fn find_by_reference(seva: &Seva, reference: i64) -> Value {
    let (status, page) = seva.api("GET", "/api/v1/conversations?limit=200", None);
    assert_eq!(status, 200);
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference"] == reference)
        .cloned()
        .expect("the conversation is listed")
}

#[test]
fn a_web_form_message_is_answered_solved_and_every_step_is_in_the_event_log() {
    let seva = Seva::start();
    let (status, html) = submit_form(
        &seva,
        &[
            ("name", "Lakshmi"),
            ("email", "Lakshmi@Example.com"),
            ("subject", "నా ఆర్డర్ రాలేదు"),
            ("message", "రెండు వారాల క్రితం ఆర్డర్ చేశాను."),
        ],
        &[("files", "రసీదు.pdf", b"%PDF-1.4 receipt")],
    );
    assert_eq!(status, 200, "{html}");
    let reference = reference_in(&html).expect("the thank-you page shows a reference");
    let link = html
        .split("href=\"/requests/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to follow the request");
    let request_path = format!("/requests/{}", link.split('?').next().unwrap());

    let conv = find_by_reference(&seva, reference);
    assert_eq!(conv["subject"], "నా ఆర్డర్ రాలేదు");
    assert_eq!(conv["channel"], "web_form");
    assert_eq!(conv["status"], "open");
    let id = conv["id"].as_str().unwrap().to_string();

    let (status, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    assert_eq!(status, 200);
    assert_eq!(messages[0]["attachments"][0]["filename"], "రసీదు.pdf");
    let attachment = messages[0]["attachments"][0]["id"].as_str().unwrap();
    let mut res = Seva::agent()
        .get(&seva.url(&format!("/api/v1/attachments/{attachment}")))
        .header("Authorization", format!("Bearer {}", seva.token))
        .call()
        .unwrap();
    assert_eq!(res.body_mut().read_to_vec().unwrap(), b"%PDF-1.4 receipt");

    let (status, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"text": "Internal: courier delayed", "kind": "note"})),
    );
    assert_eq!(status, 201);
    let (status, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"text": "క్షమించండి! మీ ఆర్డర్ రేపు చేరుతుంది.", "kind": "reply", "status": "pending"})),
    );
    assert_eq!(status, 201);
    let (status, solved) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(status, 200);
    assert_eq!(solved["status"], "solved");

    // The reply reaches the customer's page (delivered by the job worker); the note does not.
    let mut page = String::new();
    for _ in 0..100 {
        let mut res = Seva::agent().get(&seva.url(&request_path)).call().unwrap();
        page = res.body_mut().read_to_string().unwrap();
        let (_, msgs) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
        if msgs
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["delivery"] == "delivered")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        page.contains("మీ ఆర్డర్ రేపు చేరుతుంది"),
        "the customer sees the answer"
    );
    assert!(
        !page.contains("courier delayed"),
        "internal notes stay internal"
    );

    let (_, events) = seva.api("GET", &format!("/api/v1/conversations/{id}/events"), None);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // Delivery is background work: it lands after the reply, whenever the worker gets to it.
    let desk_steps: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| *k != "message.delivery")
        .collect();
    assert_eq!(
        desk_steps,
        [
            "conversation.created",
            "message.created",
            "message.created",
            "conversation.assigned",
            "conversation.status_changed",
            "conversation.status_changed"
        ],
    );
    let reply_at = kinds
        .iter()
        .position(|k| *k == "conversation.assigned")
        .unwrap();
    assert!(
        kinds
            .iter()
            .skip(reply_at)
            .any(|k| *k == "message.delivery"),
        "the reply's delivery is logged after it"
    );
    let seqs: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // The customer writes back on their page: the solved conversation reopens.
    let res = Seva::agent()
        .post(&seva.url(&format!("{request_path}/reply")))
        .send_form([("message", "ధన్యవాదాలు, కానీ ఇంకా రాలేదు")])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (_, conv) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(conv["status"], "open");
    assert_eq!(conv["message_count"], 4, "customer, note, reply, customer");
}

#[test]
fn the_api_creates_lists_filters_and_pages_conversations() {
    let seva = Seva::start();
    let (status, team) = seva.api("POST", "/api/v1/teams", Some(json!({"name": "Billing"})));
    assert_eq!(status, 201);
    let team_id = team["id"].as_str().unwrap();
    for i in 0..7 {
        let body = json!({"contact": {"email": format!("c{i}@example.com"), "name": "Μαρία"}, "subject": format!("Πληρωμή {i}"), "text": "Η πληρωμή απέτυχε", "team_id": if i < 3 { Value::from(team_id) } else { Value::Null }});
        let (status, created) = seva.api("POST", "/api/v1/conversations", Some(body));
        assert_eq!(status, 201, "{created}");
        assert!(created["id"].is_string());
    }
    let (_, page) = seva.api(
        "GET",
        &format!("/api/v1/conversations?team={team_id}"),
        None,
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let (_, first) = seva.api("GET", "/api/v1/conversations?limit=4", None);
    assert_eq!(first["data"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = seva.api(
        "GET",
        &format!("/api/v1/conversations?limit=4&cursor={cursor}"),
        None,
    );
    assert_eq!(second["data"].as_array().unwrap().len(), 3);
    assert!(second["next_cursor"].is_null());
    let (_, unassigned) = seva.api("GET", "/api/v1/conversations?owner=none&status=open", None);
    assert_eq!(unassigned["data"].as_array().unwrap().len(), 7);
    let id = first["data"][0]["id"].as_str().unwrap();
    let (status, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/tags"),
        Some(json!({"add": ["VIP", "πληρωμή"]})),
    );
    assert_eq!(status, 200);
    assert_eq!(c["tags"], json!(["vip", "πληρωμή"]));
    let (_, tagged) = seva.api("GET", "/api/v1/conversations?tag=vip", None);
    assert_eq!(tagged["data"].as_array().unwrap().len(), 1);
    let (_, me) = seva.api("GET", "/api/v1/me", None);
    let (status, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/assign"),
        Some(json!({"owner_id": me["id"], "team_id": team_id})),
    );
    assert_eq!(status, 200);
    assert_eq!(c["owner_id"], me["id"]);
    let (_, mine) = seva.api("GET", "/api/v1/conversations?owner=me", None);
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let (status, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/priority"),
        Some(json!({"priority": "urgent"})),
    );
    assert_eq!((status, c["priority"].as_str()), (200, Some("urgent")));
    let (status, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/fields"),
        Some(json!({"order": "A-1042"})),
    );
    assert_eq!(
        (status, c["custom_fields"]["order"].as_str()),
        (200, Some("A-1042"))
    );

    // The events feed pages forward by seq. On PostgreSQL it serves only events older
    // than every running transaction of the server (other tests' included), so it may
    // lag a moment behind the writes.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let feed = loop {
        let (_, feed) = seva.api("GET", "/api/v1/events?after=0&limit=5", None);
        if feed["data"].as_array().unwrap().len() == 5 || std::time::Instant::now() > until {
            break feed;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(feed["data"].as_array().unwrap().len(), 5, "{feed}");
    let next = feed["next_after"].as_i64().unwrap();
    let (_, more) = seva.api(
        "GET",
        &format!("/api/v1/events?after={next}&limit=1000"),
        None,
    );
    assert!(
        more["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_i64().unwrap() > next)
    );
}

#[test]
fn conversations_are_listed_in_the_order_asked_for_page_by_page() {
    let seva = Seva::start();
    // Created in this order; then the first is written to again, so it has the latest
    // activity.
    let mut ids = Vec::new();
    for (i, priority) in ["normal", "urgent", "low", "high", "urgent"]
        .iter()
        .enumerate()
    {
        let body = json!({"contact": {"email": format!("s{i}@example.com")}, "subject": format!("Σειρά {i}"),
                          "text": "Καλημέρα", "priority": priority});
        let (status, created) = seva.api("POST", "/api/v1/conversations", Some(body));
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{}/messages", ids[0]),
        Some(json!({"kind": "note", "text": "still on it"})),
    );
    assert_eq!(s, 201, "{body}");
    // Every order, read one conversation per page: the cursor pages on in its order.
    let read_all = |sort: &str| {
        let mut got = Vec::new();
        let mut cursor = String::new();
        loop {
            let (s, page) = seva.api(
                "GET",
                &format!("/api/v1/conversations?sort={sort}&limit=2&cursor={cursor}"),
                None,
            );
            assert_eq!(s, 200, "{page}");
            for c in page["data"].as_array().unwrap() {
                got.push(ids.iter().position(|id| c["id"] == id.as_str()).unwrap());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => return got,
            }
        }
    };
    assert_eq!(read_all("updated"), [0, 4, 3, 2, 1]);
    assert_eq!(read_all(""), [0, 4, 3, 2, 1]);
    assert_eq!(read_all("newest"), [4, 3, 2, 1, 0]);
    assert_eq!(read_all("oldest"), [0, 1, 2, 3, 4]);
    // Most urgent first; within a priority, the latest activity.
    assert_eq!(read_all("priority"), [4, 1, 3, 0, 2]);
    let (s, problem) = seva.api("GET", "/api/v1/conversations?sort=urgent", None);
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("sort")),
        "{problem}"
    );
    // A saved view keeps its order.
    let (s, v) = seva.api(
        "POST",
        "/api/v1/views",
        Some(json!({"name": "Oldest open", "filters": {"statuses": ["open"], "sort": "oldest"}})),
    );
    assert_eq!(s, 201, "{v}");
    let (s, page) = seva.api(
        "GET",
        &format!("/api/v1/views/{}/conversations", v["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(s, 200, "{page}");
    let order: Vec<usize> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| ids.iter().position(|id| c["id"] == id.as_str()).unwrap())
        .collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/views",
        Some(json!({"name": "Odd", "filters": {"sort": "sideways"}})),
    );
    assert_eq!(s, 422, "{problem}");
}

#[test]
fn an_idempotency_key_makes_a_retried_create_return_the_first_conversation() {
    let seva = Seva::start_with("test_clock = true\n");
    seva.set_now("2026-12-04T09:00:00Z");
    let body =
        json!({"contact": {"email": "retry@example.com"}, "subject": "Retry", "text": "Once only"});
    let post = |key: &str, body: &Value| {
        read(
            Seva::agent()
                .post(&seva.url("/api/v1/conversations"))
                .header("Authorization", format!("Bearer {}", seva.token))
                .header("Idempotency-Key", key)
                .send_json(body)
                .unwrap(),
        )
    };
    let (s1, a) = post("key-1", &body);
    let (s2, b) = post("key-1", &body);
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a["id"], b["id"]);
    let (_, all) = seva.api("GET", "/api/v1/conversations", None);
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let (s3, problem) = post(
        "key-1",
        &json!({"contact": {"email": "retry@example.com"}, "subject": "Other", "text": "x"}),
    );
    assert_eq!(s3, 422);
    assert_eq!(problem["field"], "Idempotency-Key");
    // Kept for a day: the next day the key is forgotten, and may name a new create.
    seva.set_now("2026-12-05T09:00:01Z");
    let forgotten = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        post(
            "key-1",
            &json!({"contact": {"email": "retry@example.com"}, "subject": "Next day", "text": "y"}),
        )
        .0 == 201
    });
    assert!(forgotten, "a day-old key was not forgotten");
    let (_, all) = seva.api("GET", "/api/v1/conversations", None);
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_gets_a_problem_naming_the_field_and_writes_nothing() {
    let seva = Seva::start();
    let cases = [
        (
            json!({"contact": {"email": 5}, "subject": "s", "text": "t"}),
            "contact.email",
        ),
        (
            json!({"contact": {"email": "not-an-address"}, "subject": "s", "text": "t"}),
            "contact.email",
        ),
        (
            json!({"contact": {}, "subject": "s", "text": "t"}),
            "contact.email",
        ),
        (
            json!({"contact": {"phone": "12"}, "subject": "s", "text": "t"}),
            "contact.phone",
        ),
        (
            json!({"contact": {"email": "a@example.com"}, "subject": "s"}),
            ".",
        ),
        (
            json!({"contact": {"email": "a@example.com"}, "subject": "s", "text": "   "}),
            "text",
        ),
        (
            json!({"contact": {"email": "a@example.com"}, "subject": "s", "text": "t", "priority": "whenever"}),
            "priority",
        ),
        (
            json!({"contact": {"email": "a@example.com"}, "subject": "s", "text": "t", "colour": "red"}),
            ".",
        ),
        (
            json!({"contact": {"email": "a@example.com"}, "subject": "s", "text": "x".repeat(300 * 1024)}),
            "text",
        ),
        (
            json!({"contact": {"email": "a@example.com"}, "subject": "s", "text": "t", "team_id": "01a20c57-8e2e-7786-88ce-54b219806eca"}),
            "team_id",
        ),
        // Objects only: serde alone would read an array's items as the fields in order.
        (json!([{"email": "a@example.com"}, "s", "t"]), "body"),
        (
            json!({"contact": ["a@example.com", "Ana"], "subject": "s", "text": "t"}),
            "contact",
        ),
    ];
    for (body, field) in cases {
        let mut res = Seva::agent()
            .post(&seva.url("/api/v1/conversations"))
            .header("Authorization", format!("Bearer {}", seva.token))
            .send_json(&body)
            .unwrap();
        assert_eq!(res.status().as_u16(), 422, "{body}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: Value = res.body_mut().read_json().unwrap();
        let named = problem["field"].as_str().unwrap_or("");
        assert!(
            if field == "." {
                !named.is_empty()
            } else {
                named == field
            },
            "{body} -> {problem}"
        );
    }
    // Query strings too: a problem document naming the parameter, not plain text.
    for (path, field) in [
        ("/api/v1/contacts?limit=many", "limit"),
        ("/api/v1/search", "q"),
        (
            "/api/v1/articles/00000000-0000-0000-0000-000000000000/diff?from=1",
            "to",
        ),
    ] {
        let res = Seva::agent()
            .get(&seva.url(path))
            .header("Authorization", format!("Bearer {}", seva.token))
            .call()
            .unwrap();
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let (status, problem) = read(res);
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some(field)),
            "{path}: {problem}"
        );
    }
    // Not JSON at all.
    let res = Seva::agent()
        .post(&seva.url("/api/v1/conversations"))
        .header("Authorization", format!("Bearer {}", seva.token))
        .header("Content-Type", "application/json")
        .send("{not json")
        .unwrap();
    let (status, problem) = read(res);
    assert_eq!((status, problem["field"].as_str()), (422, Some("body")));
    // A valid body with something after it.
    let res = Seva::agent()
        .post(&seva.url("/api/v1/conversations"))
        .header("Authorization", format!("Bearer {}", seva.token))
        .header("Content-Type", "application/json")
        .send(r#"{"contact": {"email": "trailing@example.com"}, "subject": "Hi", "text": "Hello"} and more"#)
        .unwrap();
    let (status, problem) = read(res);
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("body")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("trailing"),
        "{problem}"
    );
    // Oversize body: refused from its declared length, before it is read.
    let answer = announce_a_create_of(&seva, 31 * 1024 * 1024);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A large body its handler does not read (a page, without a session): the client
    // sends it whole and still gets its answer, not a reset connection.
    let answer = send_unread_body(&seva, "/settings/inboxes/nonsense", 8 * 1024 * 1024);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    // A client that waits for `100 Continue` before sending its body is answered at once,
    // and sends nothing.
    let mut stream = connect(&seva);
    std::io::Write::write_all(
        &mut stream,
        b"POST /settings/inboxes/nonsense HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 8388608\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let answer = first_bytes(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    // Unknown ids and wrong statuses.
    let (status, _) = seva.api(
        "GET",
        "/api/v1/conversations/01a20c57-8e2e-7786-88ce-54b219806eca",
        None,
    );
    assert_eq!(status, 404);
    let (status, problem) = seva.api("GET", "/api/v1/conversations/nonsense", None);
    assert_eq!((status, problem["field"].as_str()), (404, Some("id")));
    let (status, problem) = seva.api("GET", "/api/v1/conversations?status=done", None);
    assert_eq!((status, problem["field"].as_str()), (422, Some("status")));
    let (status, problem) = seva.api("GET", "/api/v1/conversations?limit=100000", None);
    assert_eq!((status, problem["field"].as_str()), (422, Some("limit")));
    // Nothing of the above was written.
    let (_, all) = seva.api("GET", "/api/v1/conversations", None);
    assert_eq!(all["data"].as_array().unwrap().len(), 0);
    let (_, contacts) = seva.api("GET", "/api/v1/contacts", None);
    assert_eq!(
        contacts.as_array().unwrap().len(),
        0,
        "no half-written contact"
    );
}

#[test]
fn an_agent_cannot_see_or_touch_another_teams_private_conversation() {
    let seva = Seva::start();
    let (_, hr) = seva.api(
        "POST",
        "/api/v1/teams",
        Some(json!({"name": "HR", "private": true})),
    );
    let hr_id = hr["id"].as_str().unwrap();
    let (_, created) = seva.api("POST", "/api/v1/conversations", Some(json!({"contact": {"email": "staff@example.com"}, "subject": "Payroll", "text": "private", "team_id": hr_id})));
    let id = created["id"].as_str().unwrap();
    let agent = seva.user("ravi@example.com", "agent", "a long enough password");
    let (status, _) = seva.api_as(&agent, "GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(
        status, 404,
        "another team's private conversation is not even acknowledged"
    );
    let (status, _) = seva.api_as(
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"text": "hi", "kind": "reply"})),
    );
    assert_eq!(status, 404);
    let (status, _) = seva.api_as(
        &agent,
        "POST",
        &format!("/api/v1/conversations/{id}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(status, 404);
    let (_, list) = seva.api_as(&agent, "GET", "/api/v1/conversations", None);
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let (_, events) = seva.api_as(&agent, "GET", "/api/v1/events", None);
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["conversation_id"] != id)
    );
    let (status, _) = seva.api_as(
        &agent,
        "POST",
        "/api/v1/teams",
        Some(json!({"name": "Mine"})),
    );
    assert_eq!(status, 403, "only admins create teams");
    let (status, _) = seva.api_as(&agent, "GET", "/api/v1/jobs", None);
    assert_eq!(status, 403);
    let (_, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    assert_eq!(
        messages.as_array().unwrap().len(),
        1,
        "nothing was written by the refused calls"
    );
    // No token, a wrong token, a disabled agent.
    let res = Seva::agent()
        .get(&seva.url("/api/v1/conversations"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let (status, _) = seva.api_as("wrong", "GET", "/api/v1/conversations", None);
    assert_eq!(status, 401);
    // Joining the team through the API takes effect on the agent's very next call: the
    // server forgets cached token checks when teams change.
    let (_, ravi) = seva.api_as(&agent, "GET", "/api/v1/me", None);
    let (status, _) = seva.api(
        "POST",
        &format!("/api/v1/teams/{hr_id}/members"),
        Some(json!({"agent_id": ravi["id"]})),
    );
    assert_eq!(status, 200);
    let (status, _) = seva.api_as(&agent, "GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(status, 200, "a member of HR sees HR's conversation at once");
    seva.cli(&["user", "disable", "ravi@example.com"]);
    // The server caches token checks for a second; a change made by another process
    // (this command line) takes effect within it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let status = loop {
        let (status, _) = seva.api_as(&agent, "GET", "/api/v1/conversations", None);
        if status == 401 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        status, 401,
        "a disabled agent's token stops working within a second"
    );
}

#[test]
fn a_browser_session_needs_its_csrf_token_and_ten_wrong_passwords_are_rate_limited() {
    let seva = Seva::start();
    seva.user("maria@example.com", "agent", "correct horse battery");
    let agent = Seva::agent();
    // A login without the form's token is refused.
    let res = agent
        .post(&seva.url("/login"))
        .send_form([
            ("email", "maria@example.com"),
            ("password", "correct horse battery"),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    // A real login, from a login page loaded before another one (a second tab, or a
    // page's background fetch sent to the login page): the second keeps the first's token.
    let (cookie, csrf) = common::login_page(&seva, &agent);
    let mut again = agent
        .get(&seva.url("/login"))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(common::set_cookie(&again), cookie);
    let html = again.body_mut().read_to_string().unwrap();
    assert_eq!(
        common::attribute_after(&html, "name=\"csrf\" value=\""),
        csrf
    );
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", &cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", "maria@example.com"),
            ("password", "correct horse battery"),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let session = common::set_cookie(&res);
    assert!(session.starts_with("seva_session="));
    let mut inbox = agent
        .get(&seva.url("/inbox"))
        .header("Cookie", &session)
        .call()
        .unwrap();
    let html = inbox.body_mut().read_to_string().unwrap();
    let page_csrf = common::attribute_after(&html, "name=\"csrf-token\" content=\"");
    let (_, created) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "x@example.com"}, "subject": "s", "text": "t"})),
    );
    let id = created["id"].as_str().unwrap();
    // The session can read, but a change without the CSRF token is refused and writes nothing.
    let res = agent
        .post(&seva.url(&format!("/api/v1/conversations/{id}/messages")))
        .header("Cookie", &session)
        .send_json(json!({"text": "forged", "kind": "reply"}))
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let (content_type, body) = common::multipart(&[("text", "forged"), ("kind", "reply")], &[]);
    let res = agent
        .post(&seva.url(&format!("/conversations/{id}/reply")))
        .header("Cookie", &session)
        .header("Content-Type", &content_type)
        .send(&body[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let (_, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    assert_eq!(messages.as_array().unwrap().len(), 1);
    // With the token it works, files and all (the page posts multipart).
    let (content_type, body) = common::multipart(
        &[
            ("csrf", page_csrf.as_str()),
            ("text", "real answer"),
            ("kind", "reply"),
        ],
        &[("files", "plan.txt", "the plan".as_bytes())],
    );
    let res = agent
        .post(&seva.url(&format!("/conversations/{id}/reply")))
        .header("Cookie", &session)
        .header("Content-Type", &content_type)
        .send(&body[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (_, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    assert_eq!(messages.as_array().unwrap().len(), 2);
    assert_eq!(messages[1]["attachments"][0]["filename"], "plan.txt");

    // Ten wrong passwords, then even the right one is refused for a while.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (cookie, csrf) = common::login_page(&seva, &agent);
        let res = agent
            .post(&seva.url("/login"))
            .header("Cookie", &cookie)
            .send_form([
                ("csrf", csrf.as_str()),
                ("email", "maria@example.com"),
                ("password", "wrong"),
            ])
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
    let (cookie, csrf) = common::login_page(&seva, &agent);
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", &cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", "maria@example.com"),
            ("password", "correct horse battery"),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    // It says when to try again: once the first failure leaves the 15 minutes.
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((840..=900).contains(&wait), "{wait}");
}

#[test]
fn an_agent_over_the_minutes_budget_of_api_calls_gets_429_and_nothing_is_written() {
    // Six calls a minute: one every ten seconds, a burst of six at most.
    let seva = Seva::start_with("api_calls_per_minute = 6\ntest_clock = true\n");
    let clock = seva.user("clock@example.com", "admin", "a long password here");
    let other = seva.user("other@example.com", "agent", "a long password here");
    let set_now = |at: &str| {
        let (s, body) = seva.api_as(
            &clock,
            "POST",
            "/api/v1/test/clock",
            Some(json!({"now": at})),
        );
        assert_eq!(s, 200, "{body}");
    };
    set_now("2030-01-01T00:00:00Z");
    for i in 0..6 {
        assert_eq!(seva.api("GET", "/api/v1/teams", None).0, 200, "call {i}");
    }

    // The seventh is refused, with when to come back, and a create writes nothing.
    let refused = Seva::agent()
        .get(&seva.url("/api/v1/teams"))
        .header("Authorization", &format!("Bearer {}", seva.token))
        .call()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers()["retry-after"], "10");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let create = json!({"contact": {"email": "late@example.com"}, "subject": "s", "text": "t"});
    let (status, problem) = seva.api("POST", "/api/v1/conversations", Some(create.clone()));
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["status"], 429);
    assert!(
        problem["detail"].as_str().unwrap().contains("6 calls"),
        "{problem}"
    );

    // The budget is the agent's: a new token of theirs is refused too; other agents are not.
    let second = seva
        .cli(&["token", "create", "--user", ADMIN])
        .trim()
        .to_string();
    assert_eq!(seva.api_as(&second, "GET", "/api/v1/teams", None).0, 429);
    // Calls forged from another site with the clock admin's session (no CSRF token) are
    // refused and spend nothing of their budget.
    let browser = Seva::agent();
    let session = common::log_in(&seva, "clock@example.com", "a long password here");
    for _ in 0..10 {
        let forged = browser
            .post(&seva.url("/api/v1/teams"))
            .header("Cookie", &session)
            .send_json(json!({"name": "Forged"}))
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403);
    }
    let (status, list) = seva.api_as(&clock, "GET", "/api/v1/conversations", None);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"], json!([]), "the refused create wrote nothing");
    assert_eq!(seva.api_as(&other, "GET", "/api/v1/teams", None).0, 200);

    // Ten seconds on, one call is back, and only one.
    set_now("2030-01-01T00:00:10Z");
    assert_eq!(
        seva.api("POST", "/api/v1/conversations", Some(create)).0,
        201
    );
    assert_eq!(seva.api("GET", "/api/v1/teams", None).0, 429);

    let page = Seva::agent()
        .get(&seva.url("/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(metric(&page, "seva_api_calls_refused_total"), Some(4.0));
}

#[test]
fn every_setting_of_the_file_may_come_from_its_environment_variable_which_wins() {
    // The file says 30 MB and four forms an hour; the environment says 1 MB and one.
    let seva = Seva::start_with_env(
        "max_body_mb = 30\nform_submissions_per_hour = 4\n",
        &[
            ("SEVA_MAX_BODY_MB", "1"),
            ("SEVA_FORM_SUBMISSIONS_PER_HOUR", "1"),
        ],
    );
    let answer = announce_a_create_of(&seva, 1_500_000);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let form = [
        ("name", "Ana"),
        ("email", "ana@example.com"),
        ("subject", "Tulong"),
        ("message", "Nawala ang order ko"),
    ];
    assert_eq!(submit_form(&seva, &form, &[]).0, 200);
    assert_eq!(submit_form(&seva, &form, &[]).0, 429);

    // A value that cannot be read is refused by the variable's name, without its value
    // (it may be a secret).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_seva"))
        .args(["migrate", "--data"])
        .arg(seva.dir.join("data"))
        .env("SEVA_CLOSE_SOLVED_AFTER_DAYS", "fourteen-sekret")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("SEVA_CLOSE_SOLVED_AFTER_DAYS"), "{said}");
    assert!(!said.contains("sekret"), "{said}");
}

#[test]
fn the_web_form_refuses_bots_bad_addresses_and_floods() {
    let seva = Seva::start_with("form_submissions_per_hour = 4\nmax_attachment_mb = 1\n");
    let good = [
        ("name", "Juan"),
        ("email", "juan@example.com"),
        ("subject", "Tulong"),
        ("message", "Hindi gumagana ang app"),
    ];
    let (status, html) = submit_form(
        &seva,
        &[
            ("name", "Bot"),
            ("email", "bot@example.com"),
            ("subject", "buy"),
            ("message", "spam"),
            ("website", "http://spam"),
        ],
        &[],
    );
    assert_eq!(status, 200, "the bot sees a success page");
    assert!(reference_in(&html).is_none() || reference_in(&html) == Some(0));
    let (status, html) = submit_form(
        &seva,
        &[
            ("name", "Juan"),
            ("email", "not an address"),
            ("subject", "s"),
            ("message", "m"),
        ],
        &[],
    );
    assert_eq!(status, 422);
    assert!(html.contains("check your email"));
    let big = vec![0u8; 2 * 1024 * 1024];
    let (status, _) = submit_form(&seva, &good, &[("files", "big.bin", &big)]);
    assert_eq!(status, 413);
    let (status, html) = submit_form(&seva, &good, &[]);
    assert_eq!(status, 200);
    assert!(reference_in(&html).is_some());
    let (content_type, body) = common::multipart(&good, &[]);
    let refused = Seva::agent()
        .post(&seva.url("/contact?lang=en"))
        .header("Content-Type", &content_type)
        .send(&body[..])
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        429,
        "the fifth submission from one address within the hour"
    );
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3500..=3600).contains(&wait),
        "until the first leaves the hour: {wait}"
    );
    let (_, all) = seva.api("GET", "/api/v1/conversations", None);
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        1,
        "only the one good submission was stored"
    );
}

#[test]
fn the_command_line_manages_users_teams_and_tokens() {
    let seva = Seva::start();
    let out = seva.cli(&[
        "user",
        "add",
        "eleni@example.com",
        "--name",
        "Ελένη",
        "--role",
        "supervisor",
    ]);
    assert_eq!(out.trim().len(), 16, "a one-time password, alone on stdout");
    let list = seva.cli(&["user", "list"]);
    assert!(
        list.contains("eleni@example.com") && list.contains("supervisor") && list.contains(ADMIN)
    );
    let team_id = seva.cli(&["team", "add", "Τιμολόγηση"]);
    seva.cli(&["team", "add-member", "Τιμολόγηση", "eleni@example.com"]);
    let (_, teams) = seva.api("GET", "/api/v1/teams", None);
    assert_eq!(teams[0]["id"], team_id.trim());
    assert_eq!(teams[0]["members"].as_array().unwrap().len(), 1);
    let token = seva.cli(&["token", "create", "--user", "eleni@example.com"]);
    let (status, me) = seva.api_as(token.trim(), "GET", "/api/v1/me", None);
    assert_eq!((status, me["name"].as_str()), (200, Some("Ελένη")));
    let first = out.trim();
    let again = seva.cli(&["user", "reset-password", "Eleni@Example.com"]);
    assert_eq!(
        again.trim().len(),
        16,
        "a new one-time password, alone on stdout"
    );
    assert_ne!(again.trim(), first);
    let (status, _) = seva.api_as(token.trim(), "GET", "/api/v1/me", None);
    assert_eq!(status, 200, "a new password leaves API tokens alone");
    seva.cli(&["user", "disable", "eleni@example.com"]);
    assert!(seva.cli(&["user", "list"]).contains("disabled"));
    // The server learns of a change by another process within a second (its token cache).
    let refused = (0..30).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        seva.api_as(token.trim(), "GET", "/api/v1/me", None).0 == 401
    });
    assert!(refused, "a disabled agent's token stops working");
    seva.cli(&["user", "enable", "eleni@example.com"]);
    assert!(!seva.cli(&["user", "list"]).contains("disabled"));
    seva.cli(&["team", "remove-member", "Τιμολόγηση", "eleni@example.com"]);
    let (_, teams) = seva.api("GET", "/api/v1/teams", None);
    assert_eq!(teams[0]["members"], serde_json::json!([]));
    let (status, spec) = seva.api("GET", "/api/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/api/v1/conversations"]["post"].is_object());
    for path in [
        "/api/v1/tokens",
        "/api/v1/tokens/{id}/revoke",
        "/api/v1/audit",
        "/api/v1/agents/{id}/two-step",
        "/api/v1/contacts/{id}/export",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is described");
    }
    assert!(spec["paths"]["/api/v1/contacts/{id}"]["delete"].is_object());
    for schema in ["TokenIssued", "Export", "Erased"] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
    let (status, _) = seva.api("GET", "/healthz", None);
    assert_eq!(status, 200);
    let (status, _) = seva.api("GET", "/readyz", None);
    assert_eq!(status, 200);
    for n in 0..3 {
        let (status, _) = seva.api(
            "POST",
            "/api/v1/conversations",
            Some(serde_json::json!({"contact": {"email": format!("m{n}@example.com")}, "subject": "s", "text": "t"})),
        );
        assert_eq!(status, 201);
    }
    let scrape = || {
        let mut res = Seva::agent().get(&seva.url("/metrics")).call().unwrap();
        res.body_mut().read_to_string().unwrap()
    };
    let metrics = scrape();
    let value = |name: &str| metric(&metrics, name);
    assert!(value("seva_http_requests_total").is_some_and(|v| v >= 1.0));
    assert!(value("seva_conversations_created_total").is_some_and(|v| v >= 3.0));
    // SQLite's write path: every write went through a commit, and the log was synced.
    if !seva.on_postgres() {
        let (commits, writes) = (
            value("seva_sqlite_commits_total").unwrap(),
            value("seva_sqlite_writes_total").unwrap(),
        );
        assert!(
            commits >= 1.0 && writes >= 3.0 && writes >= commits,
            "{metrics}"
        );
        assert!(value("seva_sqlite_syncs_total").unwrap() >= 1.0);
        assert!(value("seva_sqlite_sync_seconds_total").unwrap() > 0.0);
        // An idle desk commits nothing: the job worker polls its queue twice a second by
        // a read, and claims (a write, and a sync of the log) only when a job is due.
        let commits = || metric(&scrape(), "seva_sqlite_commits_total").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let before = commits();
        std::thread::sleep(std::time::Duration::from_millis(2_000));
        assert_eq!(commits(), before, "an idle server committed");
        // Where the writes' time went: the parts of each write's way through the writer and
        // the sync come one after another, within its time from the call to the answer
        // (read now that no write is under way).
        let metrics = scrape();
        let value = |name: &str| metric(&metrics, name).unwrap();
        let parts: f64 = ["queued", "batched", "sync_waited", "synced"]
            .iter()
            .map(|p| value(&format!("seva_sqlite_write_{p}_seconds_total")))
            .sum();
        let answered = value("seva_sqlite_write_answered_seconds_total");
        assert!(
            value("seva_sqlite_write_synced_seconds_total") > 0.0 && answered >= parts,
            "{metrics}"
        );
    } else {
        assert!(!metrics.contains("seva_sqlite_"));
    }
}

#[test]
fn admins_add_agents_and_team_members_through_the_api_and_no_one_else_may() {
    let seva = Seva::start();
    let (status, created) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "Kostas@Example.gr", "name": "Κώστας", "role": "agent", "language": "el"})),
    );
    assert_eq!(status, 201, "{created}");
    let password = created["one_time_password"].as_str().unwrap();
    assert_eq!(password.len(), 16);
    let agent = &created["agent"];
    assert_eq!(
        (
            agent["email"].as_str(),
            agent["language"].as_str(),
            agent["role"].as_str()
        ),
        (Some("kostas@example.gr"), Some("el"), Some("agent"))
    );
    // The same address again, a bad address, an unknown role: each refused, nothing added.
    let (status, _) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "kostas@example.gr", "name": "Again", "role": "agent"})),
    );
    assert_eq!(status, 409);
    let (status, problem) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "not an address", "name": "X", "role": "agent"})),
    );
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("email")),
        "{problem}"
    );
    let (status, _) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "x@example.com", "name": "X", "role": "owner"})),
    );
    assert_eq!(status, 422);
    let (_, agents) = seva.api("GET", "/api/v1/agents", None);
    assert_eq!(
        agents.as_array().unwrap().len(),
        2,
        "the admin and Kostas: {agents}"
    );

    // Into a team and out again.
    let (status, team) = seva.api("POST", "/api/v1/teams", Some(json!({"name": "Αποστολές"})));
    assert_eq!(status, 201);
    let members = format!("/api/v1/teams/{}/members", team["id"].as_str().unwrap());
    let (status, team) = seva.api("POST", &members, Some(json!({"agent_id": agent["id"]})));
    assert_eq!((status, &team["members"]), (200, &json!([agent["id"]])));
    // An agent who is none is a bad field of the request, not a missing team.
    let (status, p) = seva.api(
        "POST",
        &members,
        Some(json!({"agent_id": "01a24140-f3b5-75ad-b776-e30cf480c3e8"})),
    );
    assert_eq!(
        (status, p["field"].as_str()),
        (422, Some("agent_id")),
        "{p}"
    );
    let (status, team) = seva.api(
        "DELETE",
        &format!("{members}/{}", agent["id"].as_str().unwrap()),
        None,
    );
    assert_eq!((status, &team["members"]), (200, &json!([])));
    // Taking out someone who is not in the team is refused, and logs nothing. (Read in the
    // audit log: on PostgreSQL the event feed holds back events while any older
    // transaction of the server, another test's included, may still commit.)
    let (_, before) = seva.api("GET", "/api/v1/audit?limit=200", None);
    let (status, _) = seva.api(
        "DELETE",
        &format!("{members}/{}", agent["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 404);
    let (_, after) = seva.api("GET", "/api/v1/audit?limit=200", None);
    assert_eq!(before, after);

    // A new one-time password, then disabled (their token stops at once) and enabled.
    let id = agent["id"].as_str().unwrap();
    let kostas = seva.cli(&["token", "create", "--user", "kostas@example.gr"]);
    let kostas = kostas.trim();
    let (status, issued) = seva.api("POST", &format!("/api/v1/agents/{id}/password"), None);
    assert_eq!(status, 200, "{issued}");
    let again = issued["one_time_password"].as_str().unwrap();
    assert!(again.len() == 16 && again != password);
    let disabled = format!("/api/v1/agents/{id}/disabled");
    let (status, changed) = seva.api("POST", &disabled, Some(json!({"disabled": true})));
    assert_eq!((status, &changed["disabled"]), (200, &json!(true)));
    assert_eq!(seva.api_as(kostas, "GET", "/api/v1/me", None).0, 401);
    let (status, changed) = seva.api("POST", &disabled, Some(json!({"disabled": false})));
    assert_eq!((status, &changed["disabled"]), (200, &json!(false)));
    let (_, me) = seva.api("GET", "/api/v1/me", None);
    let own = format!("/api/v1/agents/{}/disabled", me["id"].as_str().unwrap());
    let (status, problem) = seva.api("POST", &own, Some(json!({"disabled": true})));
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("disabled")),
        "{problem}"
    );
    let unknown = "/api/v1/agents/01900000-0000-7000-8000-000000000000/disabled";
    let (status, problem) = seva.api("POST", unknown, Some(json!({"disabled": true})));
    assert_eq!(status, 404, "{problem}");

    // An agent may do none of it.
    let token = seva.user("gopal@example.com", "agent", "a long test password");
    let (status, _) = seva.api_as(&token, "POST", &disabled, Some(json!({"disabled": true})));
    assert_eq!(status, 403);
    let (status, _) = seva.api_as(
        &token,
        "POST",
        &format!("/api/v1/agents/{id}/password"),
        None,
    );
    assert_eq!(status, 403);
    let (status, _) = seva.api_as(
        &token,
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "mallory@example.com", "name": "M", "role": "admin"})),
    );
    assert_eq!(status, 403);
    let (status, _) = seva.api_as(
        &token,
        "POST",
        &members,
        Some(json!({"agent_id": agent["id"]})),
    );
    assert_eq!(status, 403);
    let (_, agents) = seva.api("GET", "/api/v1/agents", None);
    assert!(!agents.to_string().contains("mallory"));
}

/// The start of the server's answer to a create that announces a body of `length` bytes
/// and sends only its first few.
fn announce_a_create_of(seva: &Seva, length: usize) -> String {
    use std::io::Write;
    let mut stream = connect(seva);
    let head = format!(
        "POST /api/v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"contact\":",
        seva.token,
    );
    stream.write_all(head.as_bytes()).unwrap();
    first_bytes(&mut stream)
}

/// A connection to the server, that waits at most 10 s for an answer.
fn connect(seva: &Seva) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(seva.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
}

/// The answer's first bytes (its status line and a little more).
fn first_bytes(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// Sends `POST path` with a body of `length` bytes, all of it, then reads the answer's
/// first line. Were the server to close the connection without reading the body, the
/// kernel would reset it while the body is still being sent.
fn send_unread_body(seva: &Seva, path: &str, length: usize) -> String {
    use std::io::Write;
    let mut stream = connect(seva);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        seva.token,
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < length {
        let n = chunk.len().min(length - sent);
        if let Err(e) = stream.write_all(&chunk[..n]) {
            panic!("{path}: the connection broke after {sent} of {length} bytes: {e}");
        }
        sent += n;
    }
    first_bytes(&mut stream)
}

/// A sample's value in a Prometheus text page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_first_admin_logs_in_with_the_printed_password_and_must_choose_a_new_one() {
    let seva = Seva::start();
    let log = seva.server_log();
    let password = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("the first run prints the admin's password")
        .to_string();
    assert!(log.contains(&format!("email:    {ADMIN}")));
    let agent = Seva::agent();
    let (cookie, csrf) = common::login_page(&seva, &agent);
    let res = agent
        .post(&seva.url("/login"))
        .header("Cookie", &cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("email", ADMIN),
            ("password", password.as_str()),
        ])
        .unwrap();
    assert_eq!(res.headers()["location"], "/me/password");
    let session = common::set_cookie(&res);
    let res = agent
        .get(&seva.url("/inbox"))
        .header("Cookie", &session)
        .call()
        .unwrap();
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["location"].to_str().unwrap()
        ),
        (303, "/me/password"),
        "nothing else until the password is changed"
    );
    let mut page = agent
        .get(&seva.url("/me/password"))
        .header("Cookie", &session)
        .call()
        .unwrap();
    let html = page.body_mut().read_to_string().unwrap();
    let csrf = common::attribute_after(&html, "name=\"csrf\" value=\"");
    let res = agent
        .post(&seva.url("/me/password"))
        .header("Cookie", &session)
        .send_form([
            ("csrf", csrf.as_str()),
            ("password", "short"),
            ("again", "short"),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let res = agent
        .post(&seva.url("/me/password"))
        .header("Cookie", &session)
        .send_form([
            ("csrf", csrf.as_str()),
            ("password", "my own long password"),
            ("again", "my own long password"),
        ])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let res = agent
        .get(&seva.url("/inbox"))
        .header("Cookie", &session)
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[test]
fn a_form_with_an_inbox_lands_in_its_teams_queue_and_contacts_join_organizations() {
    let seva = Seva::start();
    let (_, team) = seva.api(
        "POST",
        "/api/v1/teams",
        Some(json!({"name": "Οδική βοήθεια"})),
    );
    let (status, inbox) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "roadside", "channel": "web_form", "team_id": team["id"]})),
    );
    assert_eq!(status, 201, "{inbox}");
    let (status, problem) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "has space", "channel": "web_form"})),
    );
    assert_eq!((status, problem["field"].as_str()), (422, Some("name")));
    let res = Seva::agent()
        .get(&seva.url("/contact?inbox=nowhere"))
        .call()
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        404,
        "an unknown inbox is not silently the default"
    );

    let (content_type, body) = common::multipart(
        &[
            ("name", "Νίκος"),
            ("email", "nikos@acme.gr"),
            ("subject", "Λάστιχο"),
            ("message", "Έσκασε το λάστιχο στην εθνική"),
        ],
        &[],
    );
    let mut res = Seva::agent()
        .post(&seva.url("/contact?lang=el&inbox=roadside"))
        .header("Content-Type", &content_type)
        .send(&body[..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.body_mut()
            .read_to_string()
            .unwrap()
            .contains("Ευχαριστούμε")
    );
    let (_, page) = seva.api(
        "GET",
        &format!(
            "/api/v1/conversations?inbox={}",
            inbox["id"].as_str().unwrap()
        ),
        None,
    );
    let conv = &page["data"][0];
    assert_eq!(conv["team_id"], team["id"], "the inbox's team gets it");

    let (status, org) = seva.api(
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "ACME Ελλάς", "domain": "ACME.gr"})),
    );
    assert_eq!((status, org["domain"].as_str()), (201, Some("acme.gr")));
    // The audit log names who made it.
    let (_, audit) = seva.api("GET", "/api/v1/audit?area=organization", None);
    let made = &audit["data"][0];
    assert_eq!(made["kind"], "organization.created", "{audit}");
    assert!(
        made["actor"].as_str().unwrap().starts_with("agent:"),
        "{made}"
    );
    let contact = conv["contact_id"].as_str().unwrap();
    let (status, c) = seva.api(
        "PATCH",
        &format!("/api/v1/contacts/{contact}"),
        Some(json!({"organization_id": org["id"]})),
    );
    assert_eq!((status, &c["organization_id"]), (200, &org["id"]));
    let (_, orgs) = seva.api("GET", "/api/v1/organizations", None);
    assert_eq!(orgs[0]["contacts"], 1);
    let (status, problem) = seva.api(
        "PATCH",
        &format!("/api/v1/contacts/{contact}"),
        Some(json!({"organization_id": "01a20c57-8e2e-7786-88ce-54b219806eca"})),
    );
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("organization_id"))
    );
}

#[test]
fn the_live_stream_tells_an_agent_only_about_conversations_they_may_see() {
    use std::io::{Read, Write};
    let seva = Seva::start();
    seva.user("ravi@example.com", "agent", "ravi's long password");
    let (_, hr) = seva.api(
        "POST",
        "/api/v1/teams",
        Some(json!({"name": "HR", "private": true})),
    );
    let session = common::log_in(&seva, "ravi@example.com", "ravi's long password");

    let mut stream = std::net::TcpStream::connect(seva.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    stream.write_all(format!("GET /live HTTP/1.1\r\nHost: x\r\nCookie: {session}\r\nAccept: text/event-stream\r\n\r\n").as_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, private) = seva.api("POST", "/api/v1/conversations", Some(json!({"contact": {"email": "staff@example.com"}, "subject": "Payroll", "text": "private", "team_id": hr["id"]})));
    let (_, public) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "c@example.com"}, "subject": "Order", "text": "public"})),
    );
    let public_id = public["id"].as_str().unwrap().to_string();
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains(&public_id) && std::time::Instant::now() < deadline {
        if let Ok(n) = stream.read(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.contains(&public_id),
        "the public conversation is announced: {seen}"
    );
    assert!(
        !seen.contains(private["id"].as_str().unwrap()),
        "the private one is not"
    );

    // Without a session there is no stream.
    let res = Seva::agent().get(&seva.url("/live")).call().unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[test]
fn organizations_gather_the_people_of_their_domain_and_show_all_their_conversations() {
    let seva = Seva::start();
    let open = |email: &str, subject: &str| {
        let (s, c) = seva.api(
            "POST",
            "/api/v1/conversations",
            Some(json!({"contact": {"email": email}, "subject": subject, "text": "Καλημέρα"})),
        );
        assert_eq!(s, 201, "{c}");
        let (_, c) = seva.api(
            "GET",
            &format!("/api/v1/conversations/{}", c["id"].as_str().unwrap()),
            None,
        );
        (
            c["id"].as_str().unwrap().to_string(),
            c["contact_id"].as_str().unwrap().to_string(),
        )
    };
    let organization_of = |contact: &str| {
        let (_, c) = seva.api("GET", &format!("/api/v1/contacts/{contact}"), None);
        c["organization_id"].clone()
    };
    let (eleni_c, eleni) = open("eleni@acme.gr", "Τιμολόγιο");
    let (_, nikos) = open("nikos@beta.gr", "Παράδοση");

    // Made with a domain (in any case): the contact already writing from it joins.
    let (s, org) = seva.api(
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "Acme Ελλάς", "domain": "ACME.gr"})),
    );
    assert_eq!(s, 201, "{org}");
    let org_id = org["id"].as_str().unwrap().to_string();
    assert_eq!(
        (&org["domain"], &org["contacts"]),
        (&json!("acme.gr"), &json!(1))
    );
    assert_eq!(organization_of(&eleni), json!(org_id));
    assert_eq!(organization_of(&nikos), Value::Null);

    // A new writer from the domain joins; one from a subdomain does not.
    let (kostas_c, kostas) = open("Kostas@Acme.GR", "Εγγύηση");
    let (_, sub) = open("maria@sub.acme.gr", "Ερώτηση");
    assert_eq!(organization_of(&kostas), json!(org_id));
    assert_eq!(organization_of(&sub), Value::Null);

    // Its people's conversations, and no one else's.
    let (s, page) = seva.api(
        "GET",
        &format!("/api/v1/conversations?organization={org_id}"),
        None,
    );
    assert_eq!(s, 200, "{page}");
    let mut ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![eleni_c.as_str(), kostas_c.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let (s, problem) = seva.api("GET", "/api/v1/conversations?organization=acme", None);
    assert_eq!((s, problem["field"].as_str()), (422, Some("organization")));

    // Renamed with another domain: its writers join, those who came by the old one stay.
    let (s, other) = seva.api(
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "Gamma", "domain": "gamma.gr"})),
    );
    assert_eq!(s, 201, "{other}");
    let (s, problem) = seva.api(
        "PATCH",
        &format!("/api/v1/organizations/{org_id}"),
        Some(json!({"domain": "gamma.gr"})),
    );
    assert_eq!(s, 409, "a domain belongs to one organization: {problem}");
    let (s, org) = seva.api(
        "PATCH",
        &format!("/api/v1/organizations/{org_id}"),
        Some(json!({"name": "Acme", "domain": "beta.gr"})),
    );
    assert_eq!(s, 200, "{org}");
    assert_eq!(
        (&org["name"], &org["domain"], &org["contacts"]),
        (&json!("Acme"), &json!("beta.gr"), &json!(3))
    );
    let (s, problem) = seva.api(
        "PATCH",
        &format!("/api/v1/organizations/{org_id}"),
        Some(json!({"domain": "not a domain"})),
    );
    assert_eq!((s, problem["field"].as_str()), (422, Some("domain")));

    // Agents see organizations but do not manage them.
    let agent = seva.user("agent@test.local", "agent", "a long agent password");
    let (s, _) = seva.api_as(
        &agent,
        "GET",
        &format!("/api/v1/organizations/{org_id}"),
        None,
    );
    assert_eq!(s, 200);
    for (method, body) in [("PATCH", Some(json!({"name": "Mine"}))), ("DELETE", None)] {
        let (s, _) = seva.api_as(
            &agent,
            method,
            &format!("/api/v1/organizations/{org_id}"),
            body,
        );
        assert_eq!(s, 403, "{method}");
    }
    let (s, _) = seva.api_as(
        &agent,
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "Mine"})),
    );
    assert_eq!(s, 403);

    // Deleted: its people stay, in no organization.
    let (s, _) = seva.api("DELETE", &format!("/api/v1/organizations/{org_id}"), None);
    assert_eq!(s, 204);
    let (s, _) = seva.api("GET", &format!("/api/v1/organizations/{org_id}"), None);
    assert_eq!(s, 404);
    for contact in [&eleni, &kostas, &nikos] {
        assert_eq!(organization_of(contact), Value::Null);
    }
}

#[test]
fn a_contact_gains_and_loses_addresses_and_numbers_and_is_found_by_each() {
    let seva = Seva::start();
    let open = |contact: Value| {
        let (s, c) = seva.api(
            "POST",
            "/api/v1/conversations",
            Some(json!({"contact": contact, "subject": "Ερώτηση", "text": "Γεια σας"})),
        );
        assert_eq!(s, 201, "{c}");
        let (_, c) = seva.api(
            "GET",
            &format!("/api/v1/conversations/{}", c["id"].as_str().unwrap()),
            None,
        );
        c["contact_id"].as_str().unwrap().to_string()
    };
    let eleni = open(json!({"email": "eleni@example.gr", "name": "Ελένη"}));
    let nikos = open(json!({"phone": "+30 697 000 0001"}));
    let (s, org) = seva.api(
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "Acme", "domain": "acme.gr"})),
    );
    assert_eq!(s, 201, "{org}");
    let add = |contact: &str, body: Value| {
        seva.api(
            "POST",
            &format!("/api/v1/contacts/{contact}/identities"),
            Some(body),
        )
    };
    let remove = |contact: &str, body: Value| {
        seva.api(
            "POST",
            &format!("/api/v1/contacts/{contact}/identities/remove"),
            Some(body),
        )
    };
    let values = |c: &Value| -> Vec<String> {
        c["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["value"].as_str().unwrap().to_string())
            .collect()
    };

    let (s, c) = add(
        &eleni,
        json!({"kind": "phone", "value": "+30 210 123 4567"}),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(values(&c), ["eleni@example.gr", "+302101234567"]);
    // Her work address, at the organization's domain: she joins it.
    let (s, c) = add(&eleni, json!({"kind": "email", "value": "Eleni.P@ACME.gr"}));
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["organization_id"], org["id"]);
    // Another contact's number is refused: merging is the way.
    let (s, problem) = add(&eleni, json!({"kind": "phone", "value": "+306970000001"}));
    assert_eq!(s, 409, "{problem}");
    for (body, field) in [
        (json!({"kind": "telegram", "value": "123"}), "kind"),
        (json!({"kind": "email", "value": "no at sign"}), "value"),
        (json!({"kind": "phone", "value": "12"}), "value"),
    ] {
        let (s, problem) = add(&eleni, body);
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }

    // A customer who calls from the new number is the same contact.
    assert_eq!(open(json!({"phone": "+302101234567"})), eleni);

    let (s, c) = remove(
        &eleni,
        json!({"kind": "phone", "value": "+30 210 123 4567"}),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(values(&c), ["eleni.p@acme.gr", "eleni@example.gr"]);
    let (s, problem) = remove(&eleni, json!({"kind": "phone", "value": "+302101234567"}));
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("value")),
        "{problem}"
    );
    // Nikos has one number only, which he keeps.
    let (s, problem) = remove(&nikos, json!({"kind": "phone", "value": "+306970000001"}));
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("value")),
        "{problem}"
    );
}

#[test]
fn contacts_are_added_by_hand_before_they_write_and_never_twice() {
    let seva = Seva::start();
    let (s, org) = seva.api(
        "POST",
        "/api/v1/organizations",
        Some(json!({"name": "Acme PH", "domain": "acme.ph"})),
    );
    assert_eq!(s, 201, "{org}");
    let (s, juan) = seva.api(
        "POST",
        "/api/v1/contacts",
        Some(
            json!({"name": "Juan dela Cruz", "email": "Juan@Acme.PH", "phone": "+63 917 000 1111"}),
        ),
    );
    assert_eq!(s, 201, "{juan}");
    assert_eq!(juan["organization_id"], org["id"], "joined by the domain");
    assert_eq!(juan["identities"].as_array().map(Vec::len), Some(2));
    let count = || {
        let (_, list) = seva.api("GET", "/api/v1/contacts?limit=200", None);
        list.as_array().unwrap().len()
    };
    assert_eq!(count(), 1);
    // The same address again, or a new address with his number: refused, nothing written.
    for body in [
        json!({"name": "Juan again", "email": "juan@acme.ph"}),
        json!({"name": "Someone", "email": "someone@example.ph", "phone": "+639170001111"}),
    ] {
        let (s, problem) = seva.api("POST", "/api/v1/contacts", Some(body));
        assert_eq!(s, 409, "{problem}");
    }
    for (body, field) in [
        (json!({"name": "No way to reach"}), "email"),
        (json!({"name": "Bad phone", "phone": "12"}), "phone"),
        (json!({"name": "  ", "email": "blank@example.ph"}), "name"),
        (
            json!({"name": "X", "email": "x@example.ph", "organization_id": "01900000-0000-7000-8000-000000000000"}),
            "organization_id",
        ),
    ] {
        let (s, problem) = seva.api("POST", "/api/v1/contacts", Some(body));
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    assert_eq!(count(), 1);
    // When he writes, it is to him that the conversation belongs.
    let (s, c) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"phone": "+639170001111"}, "subject": "Resibo", "text": "Kailangan ko ng resibo"})),
    );
    assert_eq!(s, 201, "{c}");
    let (_, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{}", c["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(c["contact_id"], juan["id"]);
    assert_eq!(c["contact_name"], "Juan dela Cruz");
}

#[test]
fn admins_make_list_and_revoke_api_tokens_and_a_secret_is_shown_only_once() {
    let seva = Seva::start();
    let (_, kostas) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "kostas@example.gr", "name": "Κώστας", "role": "agent"})),
    );
    let kostas_id = kostas["agent"]["id"].as_str().unwrap().to_string();
    // The audit log, not the event feed: on PostgreSQL the feed holds back events while
    // older transactions may still commit, and these checks need the latest.
    let events = |seva: &Seva| seva.api("GET", "/api/v1/audit?limit=200", None).1;

    // Made, with its name trimmed; the secret is in this answer and nowhere else.
    let (status, made) = seva.api(
        "POST",
        "/api/v1/tokens",
        Some(json!({"agent_id": kostas_id, "name": "  συγχρονισμός CRM  "})),
    );
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 40, "{made}");
    assert_eq!(made["name"], "συγχρονισμός CRM");
    assert_eq!(made["agent_name"], "Κώστας");
    assert_eq!(made["last_used_at"], Value::Null);
    let id = made["id"].as_str().unwrap().to_string();

    // It acts as Kostas; the list says when it was last used, and never holds the secret
    // or its hash.
    let (status, me) = seva.api_as(&secret, "GET", "/api/v1/me", None);
    assert_eq!(
        (status, me["email"].as_str()),
        (200, Some("kostas@example.gr"))
    );
    let hash: String = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(secret.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut listed = Value::Null;
    for _ in 0..50 {
        let (status, list) = seva.api("GET", "/api/v1/tokens", None);
        assert_eq!(status, 200);
        listed = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .cloned()
            .unwrap();
        let text = list.to_string();
        assert!(!text.contains(&secret) && !text.contains(&hash));
        if listed["last_used_at"].is_string() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert_eq!(listed["revoked_at"], Value::Null);

    // A retry with the same Idempotency-Key makes no second token, and cannot show the
    // first one's secret again: it says which token the key made.
    let post = |key: &str| {
        let res = Seva::agent()
            .post(&seva.url("/api/v1/tokens"))
            .header("Authorization", format!("Bearer {}", seva.token))
            .header("Idempotency-Key", key)
            .send_json(json!({"agent_id": kostas_id, "name": "nightly export"}))
            .unwrap();
        let kind = res.headers()["content-type"].to_str().unwrap().to_string();
        let (status, body) = read(res);
        (status, kind, body)
    };
    let (status, _, first) = post("export-1");
    assert_eq!(status, 201, "{first}");
    let (status, kind, again) = post("export-1");
    assert_eq!((status, kind.as_str()), (409, "application/problem+json"));
    assert_eq!(again["field"], "Idempotency-Key");
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap())
    );
    assert!(
        !again
            .to_string()
            .contains(first["secret"].as_str().unwrap())
    );
    let count = |seva: &Seva| {
        seva.api("GET", "/api/v1/tokens", None)
            .1
            .as_array()
            .unwrap()
            .len()
    };
    let tokens = count(&seva);

    // Bad input names its field and makes nothing.
    let (_, off) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "off@example.com", "name": "Off", "role": "agent"})),
    );
    let off_id = off["agent"]["id"].as_str().unwrap();
    seva.api(
        "POST",
        &format!("/api/v1/agents/{off_id}/disabled"),
        Some(json!({"disabled": true})),
    );
    let before = events(&seva);
    let long = "ల".repeat(101);
    for (body, field) in [
        (json!({"agent_id": kostas_id, "name": "  "}), "name"),
        (json!({"agent_id": kostas_id, "name": long}), "name"),
        (
            json!({"agent_id": "01900000-0000-7000-8000-000000000000", "name": "x"}),
            "agent_id",
        ),
        (json!({"agent_id": "kostas", "name": "x"}), "agent_id"),
        (json!({"agent_id": off_id, "name": "x"}), "agent_id"),
        (json!({"name": "x"}), "agent_id"),
    ] {
        let (status, problem) = seva.api("POST", "/api/v1/tokens", Some(body.clone()));
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some(field)),
            "{body}: {problem}"
        );
    }
    assert_eq!(count(&seva), tokens);
    assert_eq!(events(&seva), before);

    // Only admins see or touch tokens: Kostas's own token may do none of it.
    assert_eq!(seva.api_as(&secret, "GET", "/api/v1/tokens", None).0, 403);
    let mine = json!({"agent_id": kostas_id, "name": "mine"});
    assert_eq!(
        seva.api_as(&secret, "POST", "/api/v1/tokens", Some(mine)).0,
        403
    );
    let revoke = format!("/api/v1/tokens/{id}/revoke");
    assert_eq!(seva.api_as(&secret, "POST", &revoke, None).0, 403);

    // Revoked: it stops at once, stays listed, and revoking it again changes nothing.
    let (status, revoked) = seva.api("POST", &revoke, None);
    assert_eq!(
        (status, revoked["revoked_at"].is_string()),
        (200, true),
        "{revoked}"
    );
    assert_eq!(seva.api_as(&secret, "GET", "/api/v1/me", None).0, 401);
    let (status, again) = seva.api("POST", &revoke, None);
    assert_eq!(
        (status, &again["revoked_at"]),
        (200, &revoked["revoked_at"])
    );
    let unknown = "/api/v1/tokens/01900000-0000-7000-8000-000000000000/revoke";
    assert_eq!(seva.api("POST", unknown, None).0, 404);
    let feed = events(&seva);
    let kinds: Vec<_> = feed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["token_id"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["token.revoked", "token.created"], "newest first");

    // The command line lists tokens and revokes them too.
    let cli_token = seva.cli(&[
        "token",
        "create",
        "--user",
        "kostas@example.gr",
        "--name",
        "backup job",
    ]);
    let cli_token = cli_token.trim();
    assert_eq!(seva.api_as(cli_token, "GET", "/api/v1/me", None).0, 200);
    let listing = seva.cli(&["token", "list"]);
    let line = listing.lines().find(|l| l.contains("backup job")).unwrap();
    assert!(line.contains("Κώστας"), "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.contains("συγχρονισμός CRM (revoked")),
        "{listing}"
    );
    let cli_id = line.split_whitespace().next().unwrap();
    seva.cli(&["token", "revoke", cli_id]);
    // Another process revoked it: this server forgets its cached check within a second.
    let stopped = (0..40).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        seva.api_as(cli_token, "GET", "/api/v1/me", None).0 == 401
    });
    assert!(
        stopped,
        "a token revoked from the command line stops working"
    );
}

#[test]
fn the_audit_log_lists_changes_to_the_desk_newest_first_for_admins_only() {
    let seva = Seva::start();
    let (s, _) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(
            json!({"contact": {"email": "audit@example.com"}, "subject": "Not here", "text": "x"}),
        ),
    );
    assert_eq!(s, 201);
    let (s, _) = seva.api("POST", "/api/v1/teams", Some(json!({"name": "Λογιστήριο"})));
    assert_eq!(s, 201);
    let (_, made) = seva.api(
        "POST",
        "/api/v1/agents",
        Some(json!({"email": "audit.agent@example.com", "name": "Αλεξάνδρα", "role": "agent"})),
    );
    let agent_id = made["agent"]["id"].as_str().unwrap().to_string();
    let (_, token) = seva.api(
        "POST",
        "/api/v1/tokens",
        Some(json!({"agent_id": agent_id, "name": "export"})),
    );
    let revoke = format!("/api/v1/tokens/{}/revoke", token["id"].as_str().unwrap());
    assert_eq!(seva.api("POST", &revoke, None).0, 200);
    let kinds = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };

    // Newest first, a page at a time; conversations, messages and new contacts are not in it.
    let (s, first) = seva.api("GET", "/api/v1/audit?limit=2", None);
    assert_eq!(s, 200, "{first}");
    assert_eq!(kinds(&first), ["token.revoked", "token.created"]);
    let before = first["next_before"].as_i64().unwrap();
    let (_, second) = seva.api(
        "GET",
        &format!("/api/v1/audit?limit=200&before={before}"),
        None,
    );
    let older = kinds(&second);
    assert_eq!(&older[..2], ["agent.created", "team.created"], "{older:?}");
    assert_eq!(second["next_before"], Value::Null);
    assert!(
        older.iter().all(|k| !k.starts_with("conversation.")
            && !k.starts_with("message.")
            && k != "contact.created"),
        "{older:?}"
    );
    let (_, me) = seva.api("GET", "/api/v1/me", None);
    let admin = format!("agent:{}", me["id"].as_str().unwrap());

    // One area; one doer; refusals that name their field.
    let (_, tokens) = seva.api("GET", "/api/v1/audit?area=token", None);
    assert!(
        kinds(&tokens).iter().all(|k| k.starts_with("token.")),
        "{tokens}"
    );
    assert_eq!(
        kinds(&tokens).len(),
        3,
        "two by the API, one by the command line: {tokens}"
    );
    let (_, by_admin) = seva.api("GET", &format!("/api/v1/audit?actor={admin}"), None);
    assert!(
        by_admin["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == admin.as_str()),
        "{by_admin}"
    );
    assert_eq!(
        kinds(&by_admin),
        [
            "token.revoked",
            "token.created",
            "agent.created",
            "team.created"
        ],
        "what the admin did through the API is theirs, not Seva's"
    );
    let (_, by_system) = seva.api("GET", "/api/v1/audit?actor=system&area=token", None);
    assert_eq!(
        kinds(&by_system),
        ["token.created"],
        "the command line's: {by_system}"
    );
    let (s, problem) = seva.api("GET", "/api/v1/audit?area=gossip", None);
    assert_eq!((s, problem["field"].as_str()), (422, Some("area")));
    let (s, problem) = seva.api("GET", "/api/v1/audit?limit=0", None);
    assert_eq!((s, problem["field"].as_str()), (422, Some("limit")));

    let agent = seva.user("plain@example.com", "agent", "a long test password");
    assert_eq!(seva.api_as(&agent, "GET", "/api/v1/audit", None).0, 403);
    let supervisor = seva.user("lead@example.com", "supervisor", "a long test password");
    assert_eq!(
        seva.api_as(&supervisor, "GET", "/api/v1/audit", None).0,
        403
    );
}

#[test]
fn a_supervisor_redacts_a_message_and_its_words_leave_the_desk() {
    let seva = Seva::start();
    let card = "4111 1111 1111 1111";
    let (s, made) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({
            "contact": {"email": "kavya@example.in", "name": "కావ్య"},
            "subject": "చెల్లింపు",
            "text": format!("నా కార్డు {card}, గడువు 12/29"),
        })),
    );
    assert_eq!(s, 201, "{made}");
    let conversation = made["id"].as_str().unwrap().to_string();
    let message = common::messages(&seva, &conversation)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    common::search_until(&seva, "/api/v1/search?q=4111&kind=messages", |hits| {
        hits.len() == 1
    });
    common::wait_for_database_file(&seva, &[card], true);

    // Agents may not; nonsense and unknown ids are refused.
    let agent = seva.user("ravi@seva.test", "agent", "a long enough password 1");
    let path = format!("/api/v1/messages/{message}/redact");
    let (s, body) = seva.api_as(&agent, "POST", &path, None);
    assert_eq!(s, 403, "{body}");
    let (s, body) = seva.api("POST", "/api/v1/messages/nonsense/redact", None);
    assert_eq!((s, body["field"].as_str()), (404, Some("id")), "{body}");
    let unknown = "01a24000-0000-7000-8000-000000000000";
    let (s, _) = seva.api("POST", &format!("/api/v1/messages/{unknown}/redact"), None);
    assert_eq!(s, 404);

    let supervisor = seva.user("lena@seva.test", "supervisor", "a long enough password 2");
    let (s, redacted) = seva.api_as(&supervisor, "POST", &path, None);
    assert_eq!(s, 200, "{redacted}");
    assert_eq!(redacted["text"], "");
    assert!(redacted["redacted_at"].is_string(), "{redacted}");
    // Once is enough: a second redaction changes nothing and records nothing.
    let (s, again) = seva.api("POST", &path, None);
    assert_eq!((s, &again["redacted_at"]), (200, &redacted["redacted_at"]));

    // The timeline keeps the message; nothing the API reads still holds the card.
    let list = common::messages(&seva, &conversation);
    assert_eq!(list.len(), 1);
    let (_, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}"),
        None,
    );
    let (_, events) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/events"),
        None,
    );
    let (_, feed) = seva.api("GET", "/api/v1/events?after=0&limit=1000", None);
    for text in [
        serde_json::to_string(&list).unwrap(),
        c.to_string(),
        events.to_string(),
        feed.to_string(),
    ] {
        // The whole number: "4111" alone turns up in a timestamp's microseconds.
        assert!(!text.contains(card), "the card is still in {text}");
    }
    let redactions: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message.redacted")
        .collect();
    assert_eq!(redactions.len(), 1, "{events:#}");
    let lena = common::agent_id(&seva, "lena@seva.test");
    assert_eq!(redactions[0]["actor"], format!("agent:{lena}"));
    common::search_until(&seva, "/api/v1/search?q=4111&kind=messages", |hits| {
        hits.is_empty()
    });
    common::wait_for_database_file(&seva, &[card], false);
}

#[test]
fn a_form_or_query_a_page_cannot_read_gets_the_error_page_in_the_readers_language() {
    let seva = Seva::start();
    let res = Seva::agent()
        .post(&seva.url("/help/en/refunds/feedback"))
        .header("Accept-Language", "te-IN,te;q=0.9,en;q=0.5")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("was_it=perhaps")
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = res.into_body().read_to_string().unwrap();
    assert!(page.contains(r#"<html lang="te">"#), "{page}");
    assert!(
        page.contains("“helpful” అనే ఫీల్డ్ లేదు"),
        "the page says what was wrong, in Telugu: {page}"
    );
    // A query string too, and a body that is not a form at all.
    let res = Seva::agent()
        .get(&seva.url("/help/en/search?q=x&q=y"))
        .header("Accept-Language", "el-GR,el;q=0.9")
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let page = res.into_body().read_to_string().unwrap();
    assert!(page.contains("Το πεδίο «q»"), "{page}");
    let res = Seva::agent()
        .post(&seva.url("/help/en/refunds/feedback"))
        .header("Accept-Language", "tl")
        .header("Content-Type", "application/json")
        .send(r#"{"helpful": "yes"}"#)
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let page = res.into_body().read_to_string().unwrap();
    assert!(page.contains("Hindi mabasa ng pahinang ito"), "{page}");
    // An agent's pages speak the language the agent chose, whatever the browser asks for.
    seva.user("ravi@seva.test", "admin", "a long enough password 3");
    let session = common::log_in(&seva, "ravi@seva.test", "a long enough password 3");
    let mut inbox = Seva::agent()
        .get(&seva.url("/inbox"))
        .header("Cookie", &session)
        .call()
        .unwrap();
    let html = inbox.body_mut().read_to_string().unwrap();
    let csrf = common::attribute_after(&html, "name=\"csrf-token\" content=\"");
    let res = Seva::agent()
        .post(&seva.url("/me/language"))
        .header("Cookie", &session)
        .send_form([("csrf", csrf.as_str()), ("language", "te")])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let res = Seva::agent()
        .get(&seva.url("/settings/audit?before=yesterday"))
        .header("Cookie", &session)
        .header("Accept-Language", "en")
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let page = res.into_body().read_to_string().unwrap();
    assert!(page.contains("“before” అనే ఫీల్డ్ లేదు"), "{page}");
    // The API keeps its problem documents.
    let (status, problem) = seva.api("GET", "/api/v1/contacts?limit=many", None);
    assert_eq!((status, problem["field"].as_str()), (422, Some("limit")));
}
