//! Ownership that survives a transfer, through the API (SQLite and PostgreSQL): the owner
//! transfers to Billing with a note, stays the owner while Billing works on it, and when
//! Billing marks its part done gets exactly one follow-up, however often "done" is sent;
//! the customer sees one conversation and one thread throughout.

mod common;

use common::{Seva, agent_id, team};
use serde_json::{Value, json};

fn conversation(seva: &Seva, token: &str, id: &str) -> Value {
    let (s, c) = seva.api_as(token, "GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(s, 200, "{c}");
    c
}

#[test]
fn a_transfer_to_billing_and_back_leaves_one_follow_up_and_one_thread() {
    let seva = Seva::start();
    let support = team(
        &seva,
        "Support",
        json!({"strategy": "manual"}),
        &["owner@example.com"],
    );
    let billing = team(
        &seva,
        "Billing",
        json!({"strategy": "manual"}),
        &["bill@example.com", "bea@example.com"],
    );
    let owner_token = seva
        .cli(&["token", "create", "--user", "owner@example.com"])
        .trim()
        .to_string();
    let bill_token = seva
        .cli(&["token", "create", "--user", "bill@example.com"])
        .trim()
        .to_string();
    let bea_token = seva
        .cli(&["token", "create", "--user", "bea@example.com"])
        .trim()
        .to_string();
    let owner = agent_id(&seva, "owner@example.com");

    let (s, body) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "maria@example.gr", "name": "Μαρία"}, "subject": "Διπλή χρέωση",
                    "text": "Με χρεώσατε δύο φορές για την ίδια παραγγελία.", "team_id": support})),
    );
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();

    // The owner answers first (becoming the owner) and hands the refund to Billing.
    let (s, body) = seva.api_as(
        &owner_token,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "reply", "text": "Το εξετάζουμε, θα σας ενημερώσω."})),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        conversation(&seva, &owner_token, &id)["owner_id"],
        owner.as_str()
    );
    let (s, t) = seva.api_as(
        &owner_token,
        "POST",
        &format!("/api/v1/conversations/{id}/transfers"),
        Some(json!({"team_id": billing, "note": "Please refund the second charge of 42,00 €"})),
    );
    assert_eq!(s, 201, "{t}");
    let c = conversation(&seva, &owner_token, &id);
    assert_eq!(c["team_id"], billing.as_str());
    assert_eq!(c["owner_id"], owner.as_str(), "the owner stays accountable");
    assert_eq!(c["status"], "on_hold");

    // A second transfer while Billing has it is refused; an empty note is refused.
    let (s, body) = seva.api_as(
        &owner_token,
        "POST",
        &format!("/api/v1/conversations/{id}/transfers"),
        Some(json!({"team_id": support, "note": "never mind"})),
    );
    assert!(s == 409 || s == 422, "{s} {body}");
    // The owner cannot mark Billing's part done.
    let (s, body) = seva.api_as(
        &owner_token,
        "POST",
        &format!("/api/v1/conversations/{id}/transfers/done"),
        Some(json!({})),
    );
    assert_eq!(s, 409, "{body}");

    // Billing sees it in its queue of work, writes a note and answers the customer.
    let (s, notes) = seva.api_as(&bill_token, "GET", "/api/v1/notifications", None);
    assert_eq!(s, 200);
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "transfer"),
        "{notes}"
    );
    let (s, body) = seva.api_as(
        &bill_token,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "reply", "text": "Η επιστροφή χρημάτων έγινε σήμερα."})),
    );
    assert_eq!(s, 201, "{body}");

    // Two Billing agents press "done" at the same moment: one wins, one follow-up exists.
    let done = |token: String| {
        let seva_url = seva.url(&format!("/api/v1/conversations/{id}/transfers/done"));
        std::thread::spawn(move || {
            let res = Seva::agent()
                .post(&seva_url)
                .header("Authorization", &format!("Bearer {token}"))
                .send_json(json!({"note": "Refunded 42,00 €"}))
                .unwrap();
            common::read(res).0
        })
    };
    let (a, b) = (done(bill_token.clone()), done(bea_token.clone()));
    let mut codes = [a.join().unwrap(), b.join().unwrap()];
    codes.sort();
    assert_eq!(codes, [200, 409]);

    let c = conversation(&seva, &owner_token, &id);
    assert_eq!(
        c["team_id"],
        support.as_str(),
        "back with the team it came from"
    );
    assert_eq!(c["owner_id"], owner.as_str());
    assert_eq!(c["status"], "open");
    let (s, tasks) = seva.api_as(&owner_token, "GET", "/api/v1/tasks", None);
    assert_eq!(s, 200);
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["kind"], "follow_up");
    assert_eq!(tasks[0]["conversation_id"], id.as_str());
    let (_, billing_tasks) = seva.api_as(&bill_token, "GET", "/api/v1/tasks", None);
    assert_eq!(billing_tasks, json!([]));

    // The customer's side: one conversation, one thread with both answers, no notes.
    let (_, convs) = seva.api("GET", "/api/v1/conversations?status=open", None);
    let for_maria: Vec<&Value> = convs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subject"] == "Διπλή χρέωση")
        .collect();
    assert_eq!(for_maria.len(), 1);
    let (_, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    let kinds: Vec<(&str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    let customer_sees: Vec<&str> = kinds
        .iter()
        .filter(|(k, _)| *k != "note")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(
        customer_sees,
        vec![
            "Με χρεώσατε δύο φορές για την ίδια παραγγελία.",
            "Το εξετάζουμε, θα σας ενημερώσω.",
            "Η επιστροφή χρημάτων έγινε σήμερα."
        ]
    );
    assert!(
        kinds
            .iter()
            .any(|(k, t)| *k == "note" && t.contains("refund the second charge"))
    );

    // The owner confirms with the customer and closes the follow-up.
    let task = tasks[0]["id"].as_str().unwrap();
    let (s, body) = seva.api_as(
        &bill_token,
        "POST",
        &format!("/api/v1/tasks/{task}/done"),
        None,
    );
    assert_eq!(s, 404, "someone else's task: {body}");
    let (s, body) = seva.api_as(
        &owner_token,
        "POST",
        &format!("/api/v1/tasks/{task}/done"),
        None,
    );
    assert_eq!(s, 200, "{body}");
    let (_, open) = seva.api_as(&owner_token, "GET", "/api/v1/tasks", None);
    assert_eq!(open, json!([]));
    let (s, transfers) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{id}/transfers"),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(transfers.as_array().unwrap().len(), 1);
    assert!(
        transfers[0]["done_at"].is_i64() || transfers[0]["done_at"].is_string(),
        "{transfers}"
    );
}

/// A department asks for help as the customer (an internal customer): the conversation's
/// requester is the team, with the tier `internal` that an SLA policy selects, so the same
/// targets and clocks apply as for anyone.
#[test]
fn a_department_opens_a_conversation_as_an_internal_customer_with_its_own_sla() {
    let seva = Seva::start();
    let it = team(
        &seva,
        "IT",
        json!({"strategy": "manual"}),
        &["ivan@example.com"],
    );
    let billing = team(
        &seva,
        "Billing",
        json!({"strategy": "manual"}),
        &["bill@example.com"],
    );
    let bill = seva
        .cli(&["token", "create", "--user", "bill@example.com"])
        .trim()
        .to_string();
    let (s, body) = seva.api(
        "POST",
        "/api/v1/sla_policies",
        Some(json!({"name": "Internal", "conditions": {"tiers": ["internal"]}, "first_response_minutes": 240})),
    );
    assert_eq!(s, 201, "{body}");
    let ask =
        |token: &str, body: Value| seva.api_as(token, "POST", "/api/v1/conversations", Some(body));
    let (s, created) = ask(
        &bill,
        json!({"requester_team_id": billing, "team_id": it, "subject": "Printer", "text": "The invoice printer is jammed"}),
    );
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, c) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(c["contact_name"], "Billing");
    assert_eq!(c["team_id"], it.as_str());
    let (_, contact) = seva.api(
        "GET",
        &format!("/api/v1/contacts/{}", c["contact_id"].as_str().unwrap()),
        None,
    );
    assert_eq!(contact["attributes"]["tier"], "internal");
    assert_eq!(contact["identities"][0]["kind"], "team");
    let (_, clocks) = seva.api("GET", &format!("/api/v1/conversations/{id}/sla"), None);
    assert_eq!(clocks.as_array().unwrap().len(), 1, "{clocks}");
    // The same department again: the same requester.
    let (s, again) = ask(
        &bill,
        json!({"requester_team_id": billing, "subject": "Screen", "text": "My screen flickers"}),
    );
    assert_eq!(s, 201, "{again}");
    let (_, c2) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{}", again["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(c2["contact_id"], c["contact_id"]);
    // Not on behalf of a team one is not in; not both a contact and a team.
    let (s, problem) = ask(
        &bill,
        json!({"requester_team_id": it, "subject": "x", "text": "y"}),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("requester_team_id"))
    );
    let (s, problem) = ask(
        &bill,
        json!({"requester_team_id": billing, "contact": {"email": "a@example.com"}, "subject": "x", "text": "y"}),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("requester_team_id"))
    );
}
