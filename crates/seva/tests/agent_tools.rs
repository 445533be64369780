//! The tools agents use every minute, through the API (SQLite and PostgreSQL): @mentions
//! in notes, snooze until a time or the customer's reply, escalation of conversations
//! nobody took, macros with variables and actions, bulk changes that are all or nothing,
//! merging and splitting, and saved views.

mod common;

use std::time::{Duration, Instant};

use common::{
    Seva, agent_id, attribute_after, create, reference_in, search_until, submit_form, team,
};
use serde_json::{Value, json};

fn get(seva: &Seva, id: &str) -> Value {
    let (s, c) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(s, 200, "{c}");
    c
}

fn notifications(seva: &Seva, token: &str) -> Vec<Value> {
    let (s, list) = seva.api_as(token, "GET", "/api/v1/notifications", None);
    assert_eq!(s, 200, "{list}");
    list.as_array().unwrap().clone()
}

/// A conversation the customer opened through the web form, so that they can write again
/// on their request page: its id, its reference and the page's path.
fn by_form(
    seva: &Seva,
    name: &str,
    email: &str,
    subject: &str,
    message: &str,
) -> (String, i64, String) {
    let (status, html) = submit_form(
        seva,
        &[
            ("name", name),
            ("email", email),
            ("subject", subject),
            ("message", message),
        ],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    let reference = reference_in(&html).unwrap();
    let request_path = format!(
        "/requests/{}",
        attribute_after(&html, "href=\"/requests/")
            .split('?')
            .next()
            .unwrap()
    );
    let (_, list) = seva.api("GET", "/api/v1/conversations", None);
    let id = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference"] == reference)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, reference, request_path)
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_mention_in_a_note_notifies_the_colleague_and_makes_them_a_follower() {
    let seva = Seva::start();
    let maria = seva.user("maria.k@example.com", "agent", "a long test password");
    let nikos = seva.user("nikos@example.com", "agent", "a long test password");
    let maria_id = agent_id(&seva, "maria.k@example.com");
    let id = create(
        &seva,
        json!({"contact": {"email": "c@example.com"}, "subject": "Refund", "text": "Please refund"}),
    );
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "note", "text": "@Maria.K can you check the invoice? (not c@example.com)"})),
    );
    assert_eq!(s, 201, "{body}");
    let told = notifications(&seva, &maria);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["kind"], "mention");
    assert_eq!(told[0]["conversation_id"], id.as_str());
    assert!(notifications(&seva, &nikos).is_empty());
    assert!(
        get(&seva, &id)["followers"]
            .as_array()
            .unwrap()
            .contains(&json!(maria_id))
    );
    // A reply to the customer mentions no one.
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "reply", "text": "@nikos will call you"})),
    );
    assert_eq!(s, 201);
    assert!(notifications(&seva, &nikos).is_empty());
}

#[test]
fn snooze_wakes_at_its_time_or_when_the_customer_writes_and_unowned_waits_are_escalated() {
    let seva = Seva::start_with("test_clock = true\n");
    seva.set_now("2026-12-01T08:00:00Z");
    let (id, _, request_path) = by_form(&seva, "Ana", "ana@example.ph", "Parcel", "Nasaan na po?");
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/snooze"),
        Some(json!({"until": "2026-12-01T07:00:00Z"})),
    );
    assert_eq!(s, 422, "a time in the past: {body}");
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/snooze"),
        Some(json!({"until": "2026-12-02T08:00:00Z"})),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["snoozed_until"], "2026-12-02T08:00:00Z");
    seva.set_now("2026-12-02T08:01:00Z");
    wait_for("the snooze to end", || get(&seva, &id)["status"] == "open");
    assert!(get(&seva, &id)["snoozed_until"].is_null());

    // Until the customer writes: the customer's message wakes it.
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/snooze"),
        Some(json!({"until": null})),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "pending");
    let res = Seva::agent()
        .post(&seva.url(&format!("{request_path}/reply")))
        .send_form([("message", "Wala pa rin po")])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let c = get(&seva, &id);
    assert_eq!(c["status"], "open", "the customer's message woke it");
    assert!(c["snoozed_until"].is_null());

    // A team that wants to hear about conversations nobody took within 30 minutes.
    let queue = team(
        &seva,
        "Queue",
        json!({"strategy": "manual", "escalate_after_minutes": 30}),
        &[],
    );
    let boss = seva.user("boss@example.com", "supervisor", "a long test password");
    let waiting = create(
        &seva,
        json!({"contact": {"email": "w@example.com"}, "subject": "Waiting", "text": "Hello?", "team_id": queue}),
    );
    seva.set_now("2026-12-02T08:25:00Z");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        notifications(&seva, &boss)
            .iter()
            .all(|n| n["kind"] != "unassigned")
    );
    seva.set_now("2026-12-02T08:40:00Z");
    wait_for("the escalation", || {
        notifications(&seva, &boss)
            .iter()
            .any(|n| n["kind"] == "unassigned" && n["conversation_id"] == waiting.as_str())
    });
    // Once only.
    seva.set_now("2026-12-02T09:40:00Z");
    std::thread::sleep(Duration::from_millis(1200));
    let escalations = notifications(&seva, &boss)
        .iter()
        .filter(|n| n["kind"] == "unassigned")
        .count();
    assert_eq!(escalations, 1);
}

#[test]
fn a_conversation_left_solved_is_closed_after_the_days_set_and_the_customer_then_starts_anew() {
    let seva = Seva::start_with("test_clock = true\nclose_solved_after_days = 4\n");
    let status = |id: &str, to: &str| common::set_status(&seva, id, to);
    seva.set_now("2026-12-01T09:00:00Z");
    let (old, _, page) = by_form(
        &seva,
        "Λένα",
        "lena@example.com",
        "Τιμολόγιο",
        "Δεν ήρθε το τιμολόγιο.",
    );
    let recent = create(
        &seva,
        json!({"contact": {"email": "ravi@example.com"}, "subject": "ఆర్డర్", "text": "ఎక్కడ ఉంది?"}),
    );
    let reopened = create(
        &seva,
        json!({"contact": {"email": "jose@example.ph"}, "subject": "Resibo", "text": "Nasaan ang resibo?"}),
    );
    status(&old, "solved");
    status(&reopened, "solved");
    seva.set_now("2026-12-02T09:00:00Z");
    status(&reopened, "open");
    seva.set_now("2026-12-03T09:00:00Z");
    status(&recent, "solved");

    // A minute short of four days, nothing is closed.
    seva.set_now("2026-12-05T08:59:00Z");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(&seva, &old)["status"], "solved");
    // Four days after it was solved, it is closed, by the system; the others are not.
    seva.set_now("2026-12-05T09:01:00Z");
    wait_for("the old conversation to close", || {
        get(&seva, &old)["status"] == "closed"
    });
    assert_eq!(get(&seva, &recent)["status"], "solved");
    assert_eq!(get(&seva, &reopened)["status"], "open");
    let (_, events) = seva.api("GET", &format!("/api/v1/conversations/{old}/events"), None);
    let last = events.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["kind"], &last["actor"], &last["data"]["to"]),
        (
            &json!("conversation.status_changed"),
            &json!("system:close"),
            &json!("closed")
        ),
        "{events}"
    );
    // The customer's page no longer takes an answer, and the desk's reply is refused; a
    // note is still taken.
    let mut res = Seva::agent().get(&seva.url(&page)).call().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.body_mut().read_to_string().unwrap();
    assert!(html.contains("Δεν ήρθε το τιμολόγιο."), "{html}");
    assert!(!html.contains(&format!("{page}/reply")), "{html}");
    // Sent from a page shown before it closed, the words start a new request, under the
    // same subject, with a page of its own.
    let res = Seva::agent()
        .post(&seva.url(&format!("{page}/reply")))
        .send_form([("message", "Ακόμα τίποτα;")])
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let follow_up_page = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        follow_up_page.starts_with("/requests/") && follow_up_page != page,
        "{follow_up_page}"
    );
    let mut res = Seva::agent()
        .get(&seva.url(&follow_up_page))
        .call()
        .unwrap();
    let html = res.body_mut().read_to_string().unwrap();
    assert!(
        html.contains("Ακόμα τίποτα;") && html.contains("Τιμολόγιο"),
        "{html}"
    );
    assert!(html.contains(&format!("{follow_up_page}/reply")), "{html}");
    assert_eq!(get(&seva, &old)["status"], "closed");
    assert_eq!(get(&seva, &old)["message_count"], 1);
    let (s, problem) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{old}/messages"),
        Some(json!({"kind": "reply", "text": "Σας το στείλαμε."})),
    );
    assert_eq!(s, 409, "{problem}");
    let (s, note) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{old}/messages"),
        Some(json!({"kind": "note", "text": "Closed by the clock."})),
    );
    assert_eq!(s, 201, "{note}");
    // Writing again by the form opens a new conversation too.
    let (again, _, _) = by_form(
        &seva,
        "Λένα",
        "lena@example.com",
        "Τιμολόγιο ξανά",
        "Ακόμα τίποτα.",
    );
    assert_ne!(again, old);
    assert_eq!(get(&seva, &again)["status"], "open");
    seva.set_now("2026-12-07T09:01:00Z");
    wait_for("the recent conversation to close", || {
        get(&seva, &recent)["status"] == "closed"
    });
    assert_eq!(get(&seva, &reopened)["status"], "open");
}

#[test]
fn a_macro_fills_in_the_names_replies_and_acts_in_one_go() {
    let seva = Seva::start();
    let (s, m) = seva.api(
        "POST",
        "/api/v1/macros",
        Some(json!({"name": "Waiting for the receipt", "language": "tl",
            "text": "Salamat, {{customer.first_name}}! Pakipadala po ang resibo. — {{agent.name}}",
            "actions": [{"type": "set_status", "value": "pending"}, {"type": "add_tag", "value": "resibo"}]})),
    );
    assert_eq!(s, 201, "{m}");
    let (s, _) = seva.api(
        "POST",
        "/api/v1/macros",
        Some(json!({"name": "Thanks", "language": "en", "text": "Thank you, {{customer.name}}."})),
    );
    assert_eq!(s, 201);
    for (body, field) in [
        (
            json!({"name": "x", "text": "Hi {{customer.password}}"}),
            "text",
        ),
        (
            json!({"name": "x", "text": "Hi", "actions": [{"type": "set_status", "value": "asleep"}]}),
            "actions[0].value",
        ),
        (json!({"name": "x"}), "text"),
    ] {
        let (s, problem) = seva.api("POST", "/api/v1/macros", Some(body));
        assert_eq!(s, 422, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (_, list) = seva.api("GET", "/api/v1/macros?language=tl", None);
    assert_eq!(
        list[0]["name"], "Waiting for the receipt",
        "Tagalog macros first for a Tagalog conversation"
    );

    // Rewritten whole; a bad rewrite changes nothing, and an unknown macro is not found.
    let thanks = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Thanks")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, problem) = seva.api(
        "PUT",
        &format!("/api/v1/macros/{thanks}"),
        Some(json!({"name": "Thanks", "text": "Hi {{customer.password}}"})),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("text")),
        "{problem}"
    );
    let (s, problem) = seva.api(
        "PUT",
        &format!("/api/v1/macros/{}", seva_core::MacroId::new()),
        Some(json!({"name": "Ghost", "text": "Boo"})),
    );
    assert_eq!(s, 404, "{problem}");
    let (s, rewritten) = seva.api(
        "PUT",
        &format!("/api/v1/macros/{thanks}"),
        Some(json!({"name": "Thanks, and solved", "language": "en", "text": "Thank you, {{customer.first_name}}.",
            "actions": [{"type": "set_status", "value": "solved"}]})),
    );
    assert_eq!(s, 200, "{rewritten}");
    let (_, list) = seva.api("GET", "/api/v1/macros", None);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Thanks, and solved") && !names.contains(&"Thanks"),
        "{names:?}"
    );
    assert_eq!(
        rewritten["actions"],
        json!([{"type": "set_status", "value": "solved"}])
    );

    let id = create(
        &seva,
        json!({"contact": {"email": "jose@example.ph", "name": "Jose Rizal"}, "subject": "Refund",
               "text": "Hindi ko natanggap ang refund ko."}),
    );
    let (s, c) = seva.api(
        "POST",
        &format!(
            "/api/v1/conversations/{id}/macros/{}",
            m["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["tags"], json!(["resibo"]));
    let (_, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    let last = messages.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "outbound");
    let text = last["text"].as_str().unwrap();
    assert!(
        text.starts_with("Salamat, Jose! Pakipadala po ang resibo. — "),
        "{text}"
    );
    assert!(!text.contains("{{"), "{text}");
}

#[test]
fn bulk_changes_are_all_or_nothing_and_name_the_conversation_at_fault() {
    let seva = Seva::start();
    let ids: Vec<String> = (0..3)
        .map(|n| {
            create(
                &seva,
                json!({"contact": {"email": format!("b{n}@example.com")}, "subject": format!("Bulk {n}"), "text": "hi"}),
            )
        })
        .collect();
    let (s, r) = seva.api(
        "POST",
        "/api/v1/conversations/bulk",
        Some(json!({"ids": ids, "priority": "high", "add_tags": ["campaign"]})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["updated"], 3);
    for id in &ids {
        let c = get(&seva, id);
        assert_eq!(c["priority"], "high");
        assert_eq!(c["tags"], json!(["campaign"]));
    }
    // The second id does not exist: nothing changes, and the problem names it.
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/conversations/bulk",
        Some(json!({"ids": [ids[0], "0190a0c0-0000-7000-8000-000000000000"], "priority": "low"})),
    );
    assert_eq!(s, 422, "{problem}");
    assert_eq!(problem["field"], "ids[1]");
    assert_eq!(get(&seva, &ids[0])["priority"], "high");
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/conversations/bulk",
        Some(json!({"ids": []})),
    );
    assert_eq!((s, problem["field"].as_str()), (422, Some("ids")));
}

#[test]
fn merging_moves_the_messages_and_closes_the_duplicate_and_a_message_splits_off_again() {
    let seva = Seva::start();
    let first = create(
        &seva,
        json!({"contact": {"email": "dup@example.com"}, "subject": "Login", "text": "I cannot log in"}),
    );
    let second = create(
        &seva,
        json!({"contact": {"email": "dup@example.com"}, "subject": "Login again", "text": "Still cannot log in"}),
    );
    let (s, problem) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{second}/merge"),
        Some(json!({"into": second})),
    );
    assert_eq!((s, problem["field"].as_str()), (422, Some("into")));
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{second}/merge"),
        Some(json!({"into": first})),
    );
    assert_eq!(s, 200, "{c}");
    let (_, messages) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{first}/messages"),
        None,
    );
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"I cannot log in") && texts.contains(&"Still cannot log in"),
        "{texts:?}"
    );
    let dup = get(&seva, &second);
    assert_eq!(dup["status"], "closed");
    let (_, left) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{second}/messages"),
        None,
    );
    let left: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        left,
        vec![format!("Merged into #{}", get(&seva, &first)["reference"]).as_str()]
    );

    // The customer's second message was another issue after all: split it off again.
    let second_message = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == "Still cannot log in")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first_message = messages.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, new) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{first}/split"),
        Some(json!({"message_id": second_message})),
    );
    assert_eq!(s, 201, "{new}");
    assert_eq!(new["status"], "open");
    assert_eq!(new["contact_id"], get(&seva, &first)["contact_id"]);
    let (_, moved) = seva.api(
        "GET",
        &format!(
            "/api/v1/conversations/{}/messages",
            new["id"].as_str().unwrap()
        ),
        None,
    );
    let moved: Vec<&str> = moved
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(moved[0], "Still cannot log in");
    // The search index follows the move: the message is found once, in its new
    // conversation, and the first message once, in the first.
    let new_id = new["id"].as_str().unwrap();
    let hits = search_until(&seva, "/api/v1/search?kind=messages&q=log+in", |h| {
        h.iter().any(|h| h["conversation"] == new_id)
    });
    let found: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap(),
                h["conversation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found.len(), 2, "{hits:?}");
    assert!(
        found.contains(&(second_message.as_str(), new_id)),
        "{hits:?}"
    );
    assert!(
        found.contains(&(first_message.as_str(), first.as_str())),
        "{hits:?}"
    );
    // Now the first has one customer message left, which cannot be split off.
    let (s, problem) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{first}/split"),
        Some(json!({"message_id": first_message})),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("message_id")),
        "{problem}"
    );
}

#[test]
fn saved_views_filter_the_list_and_stay_private_unless_shared() {
    let seva = Seva::start();
    let agent = seva.user("ana@example.com", "agent", "a long test password");
    let urgent = create(
        &seva,
        json!({"contact": {"email": "u@example.com"}, "subject": "Down", "text": "All down", "priority": "urgent"}),
    );
    create(
        &seva,
        json!({"contact": {"email": "n@example.com"}, "subject": "Question", "text": "How do I?"}),
    );
    let (s, v) = seva.api(
        "POST",
        "/api/v1/views",
        Some(json!({"name": "Urgent and open", "filters": {"statuses": ["open"], "priorities": ["urgent"]}})),
    );
    assert_eq!(s, 201, "{v}");
    let view = v["id"].as_str().unwrap();
    let (s, page) = seva.api("GET", &format!("/api/v1/views/{view}/conversations"), None);
    assert_eq!(s, 200, "{page}");
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![urgent.as_str()]);
    // Ana does not see the admin's private view; a shared one she does.
    let (s, _) = seva.api_as(
        &agent,
        "GET",
        &format!("/api/v1/views/{view}/conversations"),
        None,
    );
    assert_eq!(s, 404);
    let (s, shared) = seva.api(
        "POST",
        "/api/v1/views",
        Some(json!({"name": "Everything unowned", "filters": {"owner": "none"}, "shared": true})),
    );
    assert_eq!(s, 201, "{shared}");
    let (_, hers) = seva.api_as(&agent, "GET", "/api/v1/views", None);
    let names: Vec<&str> = hers
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Everything unowned"]);
    let (s, problem) = seva.api_as(
        &agent,
        "POST",
        "/api/v1/views",
        Some(json!({"name": "Mine for all", "filters": {}, "shared": true})),
    );
    assert_eq!(s, 403, "{problem}");
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/views",
        Some(json!({"name": "Bad", "filters": {"owner": "somebody"}})),
    );
    assert_eq!((s, problem["field"].as_str()), (422, Some("filters.owner")));
}

#[test]
fn a_team_defines_its_custom_fields_and_values_are_checked_against_them() {
    let seva = Seva::start();
    let billing = team(&seva, "Billing", json!({"strategy": "manual"}), &[]);
    for body in [
        json!({"team_id": billing, "key": "invoice_number", "label": "Invoice number", "kind": "text"}),
        json!({"team_id": billing, "key": "amount", "label": "Amount", "kind": "number"}),
        json!({"team_id": billing, "key": "refund_reason", "label": "Refund reason", "kind": "select",
               "options": ["double charge", "damaged", "late"]}),
        json!({"key": "due", "label": "Promised by", "kind": "date"}),
    ] {
        let (s, def) = seva.api("POST", "/api/v1/custom_fields", Some(body));
        assert_eq!(s, 201, "{def}");
    }
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/custom_fields",
        Some(json!({"team_id": billing, "key": "amount", "label": "Again", "kind": "number"})),
    );
    assert_eq!(s, 409, "{problem}");
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/custom_fields",
        Some(json!({"key": "colour", "label": "Colour", "kind": "select"})),
    );
    assert_eq!((s, problem["field"].as_str()), (422, Some("options")));

    let billed = create(
        &seva,
        json!({"contact": {"email": "f@example.com"}, "subject": "Refund", "text": "Charged twice", "team_id": billing}),
    );
    let set = |id: &str, fields: Value| {
        seva.api(
            "POST",
            &format!("/api/v1/conversations/{id}/fields"),
            Some(fields),
        )
    };
    let (s, c) = set(
        &billed,
        json!({"invoice_number": "INV-2026-0042", "amount": 42.0, "refund_reason": "double charge", "due": "2026-12-31"}),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["custom_fields"]["refund_reason"], "double charge");
    for (fields, field) in [
        (json!({"amount": "forty-two"}), "custom_fields.amount"),
        (
            json!({"refund_reason": "changed my mind"}),
            "custom_fields.refund_reason",
        ),
        (json!({"due": "31/12/2026"}), "custom_fields.due"),
        (json!({"shoe_size": 42}), "custom_fields.shoe_size"),
    ] {
        let (s, problem) = set(&billed, fields);
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    assert_eq!(
        get(&seva, &billed)["custom_fields"]["amount"],
        42.0,
        "nothing changed"
    );
    // A conversation without a team: the field defined for every team applies to it, so
    // that one is accepted and Billing's are not.
    let other = create(
        &seva,
        json!({"contact": {"email": "g@example.com"}, "subject": "Hello", "text": "Hi"}),
    );
    let (s, _) = set(&other, json!({"due": "2027-01-15"}));
    assert_eq!(s, 200);
    let (s, problem) = set(&other, json!({"invoice_number": "X"}));
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("custom_fields.invoice_number"))
    );
    let (_, list) = seva.api(
        "GET",
        &format!("/api/v1/custom_fields?team_id={billing}"),
        None,
    );
    assert_eq!(list.as_array().unwrap().len(), 4);
}

#[test]
fn followers_are_told_of_new_messages_owners_and_solving_but_their_own_while_they_may_see_it() {
    let seva = Seva::start();
    let maria = seva.user("maria@example.com", "agent", "a long test password");
    let nikos = seva.user("nikos@example.com", "agent", "a long test password");
    let (maria_id, nikos_id) = (
        agent_id(&seva, "maria@example.com"),
        agent_id(&seva, "nikos@example.com"),
    );
    let (id, reference, request_path) = by_form(
        &seva,
        "Ελένη",
        "eleni@example.gr",
        "Επιστροφή",
        "Θέλω να επιστρέψω το δέμα.",
    );
    for (token, agent) in [(&maria, &maria_id), (&nikos, &nikos_id)] {
        let (s, body) = seva.api_as(
            token,
            "POST",
            &format!("/api/v1/conversations/{id}/followers"),
            Some(json!({"agent_id": agent, "follow": true})),
        );
        assert_eq!(s, 200, "{body}");
    }
    let customer_writes = |text: &str| {
        let res = Seva::agent()
            .post(&seva.url(&format!("{request_path}/reply")))
            .send_form([("message", text)])
            .unwrap();
        assert_eq!(res.status().as_u16(), 303);
    };
    let followed = |token: &str| -> Vec<String> {
        notifications(&seva, token)
            .iter()
            .filter(|n| n["kind"] == "followed")
            .map(|n| n["text"].as_str().unwrap().to_string())
            .collect()
    };

    // The customer writes: both are told, with who wrote and what.
    customer_writes("Το έστειλα σήμερα.");
    for token in [&maria, &nikos] {
        let told = followed(token);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].contains("Ελένη: Το έστειλα σήμερα."), "{told:?}");
        assert!(
            told[0].starts_with(&format!("#{reference} Επιστροφή")),
            "{told:?}"
        );
    }
    // Maria writes a note: Nikos is told, Maria is not told of her own.
    let (s, body) = seva.api_as(
        &maria,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "note", "text": "Περιμένουμε το δέμα."})),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(followed(&maria).len(), 1);
    assert_eq!(followed(&nikos).len(), 2);
    assert!(
        followed(&nikos)[0].contains("maria: Περιμένουμε το δέμα."),
        "{:?}",
        followed(&nikos)
    );

    // Maria solves it, then opens it again: Nikos is told of both, Maria of neither.
    for (to, kind) in [("solved", "followed_solved"), ("open", "followed_reopened")] {
        let (s, body) = seva.api_as(
            &maria,
            "POST",
            &format!("/api/v1/conversations/{id}/status"),
            Some(json!({ "status": to })),
        );
        assert_eq!(s, 200, "{body}");
        let told: Vec<Value> = notifications(&seva, &nikos)
            .into_iter()
            .filter(|n| n["kind"] == kind)
            .collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["text"], format!("#{reference} Επιστροφή — maria"));
        assert!(
            notifications(&seva, &maria)
                .iter()
                .all(|n| n["kind"] != kind)
        );
    }

    // Given to Maria by an admin: Nikos is told who has it now; Maria is told it is hers,
    // once.
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/assign"),
        Some(json!({ "owner_id": maria_id })),
    );
    assert_eq!(s, 200, "{body}");
    let kinds = |token: &str, kind: &str| -> Vec<String> {
        notifications(&seva, token)
            .iter()
            .filter(|n| n["kind"] == kind)
            .map(|n| n["text"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds(&nikos, "followed_owner"),
        [format!("#{reference} Επιστροφή — Admin → maria")]
    );
    assert!(kinds(&maria, "followed_owner").is_empty());
    assert_eq!(kinds(&maria, "assigned").len(), 1);

    // Moved to a private team Nikos is not in: he is told nothing more, Maria (a member) is.
    let legal = {
        let (s, t) = seva.api(
            "POST",
            "/api/v1/teams",
            Some(json!({"name": "Νομικό", "private": true})),
        );
        assert_eq!(s, 201, "{t}");
        t["id"].as_str().unwrap().to_string()
    };
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/teams/{legal}/members"),
        Some(json!({"agent_id": maria_id})),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/assign"),
        Some(json!({"team_id": legal})),
    );
    assert_eq!(s, 200, "{body}");
    customer_writes("Πότε θα πάρω τα χρήματα;");
    assert_eq!(followed(&nikos).len(), 2, "{:?}", followed(&nikos));
    assert_eq!(followed(&maria).len(), 2, "{:?}", followed(&maria));

    // Maria stops following: nothing more for her.
    let (s, body) = seva.api_as(
        &maria,
        "POST",
        &format!("/api/v1/conversations/{id}/followers"),
        Some(json!({"agent_id": maria_id, "follow": false})),
    );
    assert_eq!(s, 200, "{body}");
    customer_writes("Ευχαριστώ.");
    assert_eq!(followed(&maria).len(), 2);
}

#[test]
fn a_conversation_is_renamed_and_found_by_its_new_subject() {
    let seva = Seva::start();
    let id = create(
        &seva,
        json!({"contact": {"email": "r@example.gr"}, "subject": "Help", "text": "Το δέμα δεν ήρθε"}),
    );
    let rename = |subject: Value| {
        seva.api(
            "POST",
            &format!("/api/v1/conversations/{id}/subject"),
            Some(json!({ "subject": subject })),
        )
    };
    // Refusals name the field and change nothing.
    for bad in [json!("   "), json!("x".repeat(5000)), json!(7)] {
        let (s, problem) = rename(bad);
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some("subject")),
            "{problem}"
        );
    }
    assert_eq!(get(&seva, &id)["subject"], "Help");
    let (s, _) = seva.api(
        "POST",
        "/api/v1/conversations/0190a5e0-0000-7000-8000-000000000000/subject",
        Some(json!({"subject": "x"})),
    );
    assert_eq!(s, 404);
    // Renamed (trimmed, in NFC): the page, the log and the search index follow.
    let (s, c) = rename(json!("  Δέμα 4471 χάθηκε στο Σπάτα  "));
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["subject"], "Δέμα 4471 χάθηκε στο Σπάτα");
    let (_, events) = seva.api("GET", &format!("/api/v1/conversations/{id}/events"), None);
    let renamed = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "conversation.subject")
        .expect("a conversation.subject event");
    assert_eq!(
        (&renamed["data"]["from"], &renamed["data"]["to"]),
        (&json!("Help"), &json!("Δέμα 4471 χάθηκε στο Σπάτα"))
    );
    let hits = search_until(&seva, "/api/v1/search?kind=messages&q=Σπάτα", |h| {
        h.iter().any(|h| h["conversation"] == id.as_str())
    });
    assert!(!hits.is_empty());
}
