//! Rules as data through the API (SQLite and PostgreSQL): an urgent breakdown jumps the
//! queue and notifies the supervisors; bad rules are refused naming the part at fault; a
//! circle of rules is refused; a rule that feeds itself is stopped at run time and
//! reported; a dry run shows what a rule would do and changes nothing.

mod common;

use common::{Seva, agent_id, team};
use serde_json::{Value, json};

fn create(seva: &Seva, team: &str, email: &str, subject: &str, text: &str) -> String {
    let (s, body) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(
            json!({"contact": {"email": email}, "subject": subject, "text": text, "team_id": team}),
        ),
    );
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn conversation(seva: &Seva, id: &str) -> Value {
    let (s, c) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(s, 200, "{c}");
    c
}

fn event_kinds(seva: &Seva, id: &str) -> Vec<String> {
    let (s, body) = seva.api("GET", &format!("/api/v1/conversations/{id}/events"), None);
    assert_eq!(s, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_urgent_breakdown_jumps_the_queue_and_notifies_the_supervisors() {
    let seva = Seva::start();
    let roadside = team(
        &seva,
        "Roadside",
        json!({"strategy": "least_busy", "capacity": 1}),
        &["ana@example.com"],
    );
    let ana = agent_id(&seva, "ana@example.com");
    let (s, rule) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "Breakdowns first", "trigger": "conversation.created",
            "conditions": [{"field": "text", "op": "contains_any",
                            "value": ["broke down", "χάλασε", "ఆగిపోయింది", "nasira"]}],
            "actions": [{"type": "set_priority", "value": "urgent"}, {"type": "notify", "value": "supervisors"}]})),
    );
    assert_eq!(s, 201, "{rule}");

    // Ana takes the first; with a capacity of one, the next two wait.
    let first = create(
        &seva,
        &roadside,
        "a@example.com",
        "Flat tyre",
        "I have a flat tyre at home",
    );
    assert_eq!(conversation(&seva, &first)["owner_id"], ana.as_str());
    let invoice = create(
        &seva,
        &roadside,
        "b@example.com",
        "Invoice",
        "Where is my invoice?",
    );
    let breakdown = create(
        &seva,
        &roadside,
        "c@example.com",
        "Help",
        "My car broke down on the highway, I am on the hard shoulder",
    );
    let c = conversation(&seva, &breakdown);
    assert_eq!(c["priority"], "urgent");
    assert!(c["owner_id"].is_null());
    assert_eq!(conversation(&seva, &invoice)["priority"], "normal");

    // The queue puts the breakdown first although it came last.
    let (s, queue) = seva.api("GET", &format!("/api/v1/teams/{roadside}/queue"), None);
    assert_eq!(s, 200, "{queue}");
    let order: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec![breakdown.as_str(), invoice.as_str()]);
    let (s, summary) = seva.api("GET", "/api/v1/queues", None);
    assert_eq!(s, 200, "{summary}");
    let road = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["team_id"] == roadside.as_str())
        .unwrap();
    assert_eq!(road["waiting"], 2);
    assert_eq!(road["urgent_waiting"], 1);
    assert_eq!(road["agents"][0]["active"], 1);

    // The supervisors (the test's admin) were told.
    let (s, notes) = seva.api("GET", "/api/v1/notifications?unread=true", None);
    assert_eq!(s, 200, "{notes}");
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["conversation_id"] == breakdown.as_str() && n["kind"] == "rule"),
        "{notes}"
    );

    // When Ana solves her conversation, the breakdown comes to her before the invoice.
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{first}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(conversation(&seva, &breakdown)["owner_id"], ana.as_str());
    assert!(conversation(&seva, &invoice)["owner_id"].is_null());
    let kinds = event_kinds(&seva, &breakdown);
    assert!(kinds.contains(&"rule.applied".to_string()), "{kinds:?}");

    // A Greek breakdown, in capitals and without accents, is urgent too.
    let greek = create(
        &seva,
        &roadside,
        "d@example.gr",
        "Βλάβη",
        "ΤΟ ΑΥΤΟΚΙΝΗΤΟ ΧΑΛΑΣΕ ΣΤΗΝ ΕΘΝΙΚΗ ΟΔΟ",
    );
    assert_eq!(conversation(&seva, &greek)["priority"], "urgent");
}

/// Priority from repeated contact: a customer who writes again within the week about
/// their trouble is raised to high; someone else writing for the first time is not.
#[test]
fn a_customer_who_writes_again_within_the_week_is_raised_to_high() {
    let seva = Seva::start();
    let support = team(&seva, "Support", json!({"strategy": "manual"}), &[]);
    let (s, body) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "Writes again", "trigger": "conversation.created",
            "conditions": [{"field": "contact.recent_conversations", "op": "at_least", "value": 1}],
            "actions": [{"type": "set_priority", "value": "high"}, {"type": "add_tag", "value": "repeat"}]})),
    );
    assert_eq!(s, 201, "{body}");
    let first = create(
        &seva,
        &support,
        "again@example.com",
        "Refund",
        "Where is my refund?",
    );
    assert_eq!(conversation(&seva, &first)["priority"], "normal");
    let second = create(
        &seva,
        &support,
        "again@example.com",
        "Refund?",
        "Still no refund!",
    );
    let c = conversation(&seva, &second);
    assert_eq!(c["priority"], "high", "{c}");
    assert_eq!(c["tags"], json!(["repeat"]));
    let other = create(
        &seva,
        &support,
        "new@example.com",
        "Refund",
        "Where is my refund?",
    );
    assert_eq!(conversation(&seva, &other)["priority"], "normal");
}

#[test]
fn bad_rules_are_refused_naming_the_part_at_fault_and_nothing_is_saved() {
    let seva = Seva::start();
    let refused = |rule: Value, field: &str| {
        let (s, body) = seva.api("POST", "/api/v1/rules", Some(rule));
        assert_eq!(s, 422, "{body}");
        assert_eq!(body["field"], field, "{body}");
    };
    let with = |condition: Value| {
        json!({"name": "x", "trigger": "conversation.created", "conditions": [condition],
               "actions": [{"type": "add_tag", "value": "x"}]})
    };
    refused(
        with(json!({"field": "colour", "op": "is", "value": "red"})),
        "conditions[0].field",
    );
    refused(
        with(json!({"field": "text", "op": "matches", "value": "([a-z]+"})),
        "conditions[0].value",
    );
    refused(
        with(json!({"field": "priority", "op": "is", "value": "asap"})),
        "conditions[0].value",
    );
    refused(
        json!({"name": "x", "trigger": "on.tuesdays", "actions": [{"type": "add_tag", "value": "x"}]}),
        "trigger",
    );
    refused(
        json!({"name": "x", "trigger": "conversation.created",
               "actions": [{"type": "set_team", "value": "0190a0c0-0000-7000-8000-000000000000"}]}),
        "actions[0].value",
    );
    // A plain agent may not write rules.
    let agent = seva.user("plain@example.com", "agent", "a long test password");
    let (s, body) = seva.api_as(
        &agent,
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "mine", "trigger": "conversation.created", "actions": [{"type": "add_tag", "value": "x"}]})),
    );
    assert_eq!(s, 403, "{body}");

    // Two rules that undo each other: the second is refused and names the circle.
    let (s, body) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "raise", "trigger": "conversation.updated",
            "conditions": [{"field": "priority", "op": "is", "value": "low"}],
            "actions": [{"type": "set_priority", "value": "high"}]})),
    );
    assert_eq!(s, 201, "{body}");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "lower", "trigger": "conversation.updated",
            "conditions": [{"field": "priority", "op": "is", "value": "high"}],
            "actions": [{"type": "set_priority", "value": "low"}]})),
    );
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("raise"), "{body}");
    let (_, rules) = seva.api("GET", "/api/v1/rules", None);
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
}

#[test]
fn a_rule_that_feeds_itself_is_stopped_at_run_time_and_reported() {
    let seva = Seva::start();
    // Every update adds a note, and a note is an update: without a stop this never ends.
    let (s, rule) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "Chatty", "trigger": "conversation.updated",
            "actions": [{"type": "add_note", "value": "Someone changed this."}]})),
    );
    assert_eq!(s, 201, "{rule}");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "x@example.com"}, "subject": "Loop", "text": "hello"})),
    );
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/priority"),
        Some(json!({"priority": "high"})),
    );
    assert_eq!(s, 200, "{body}");
    let (_, messages) = seva.api("GET", &format!("/api/v1/conversations/{id}/messages"), None);
    let notes = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"] == "Someone changed this.")
        .count();
    assert_eq!(notes, 1, "{messages}");
    assert!(event_kinds(&seva, id).contains(&"rule.loop_stopped".to_string()));
    let (_, stored) = seva.api(
        "GET",
        &format!("/api/v1/rules/{}", rule["id"].as_str().unwrap()),
        None,
    );
    assert!(
        stored["last_error"].as_str().unwrap_or("").contains("loop"),
        "{stored}"
    );
    assert!(seva.server_log().contains("a rule loop was stopped"));
}

#[test]
fn a_dry_run_shows_what_a_rule_would_do_and_changes_nothing() {
    let seva = Seva::start();
    for (email, text) in [
        ("v@example.com", "Πού είναι η παραγγελία μου; Είναι επείγον"),
        ("w@example.com", "Just a question about hours"),
        ("vip@example.com", "I need help with my account"),
    ] {
        let (s, body) = seva.api(
            "POST",
            "/api/v1/conversations",
            Some(json!({"contact": {"email": email}, "subject": "Q", "text": text})),
        );
        assert_eq!(s, 201, "{body}");
    }
    // The VIP contact's tier, which rules read as contact.tier.
    let (_, contacts) = seva.api("GET", "/api/v1/contacts?q=vip%40example.com", None);
    let vip = contacts.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = seva.api(
        "PATCH",
        &format!("/api/v1/contacts/{vip}"),
        Some(json!({"attributes": {"tier": "VIP"}})),
    );
    assert_eq!(s, 200, "{body}");
    let rule = json!({"name": "Urgent or VIP", "trigger": "conversation.created",
        "conditions": [{"field": "text", "op": "matches", "value": "επειγον|urgent"}],
        "actions": [{"type": "set_priority", "value": "high"}, {"type": "add_tag", "value": "fast"}]});
    let (s, result) = seva.api(
        "POST",
        "/api/v1/rules/dry-run",
        Some(json!({"rule": rule, "last": 10})),
    );
    assert_eq!(s, 200, "{result}");
    let hits: Vec<&Value> = result
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["matches"] == true)
        .collect();
    assert_eq!(hits.len(), 1, "{result}");
    assert_eq!(
        hits[0]["would"],
        json!(["set_priority high", "add_tag fast"])
    );
    let vip_rule = json!({"name": "VIP", "trigger": "conversation.created",
        "conditions": [{"field": "contact.tier", "op": "is", "value": "vip"}],
        "actions": [{"type": "set_priority", "value": "high"}]});
    let (s, result) = seva.api(
        "POST",
        "/api/v1/rules/dry-run",
        Some(json!({"rule": vip_rule, "last": 10})),
    );
    assert_eq!(s, 200, "{result}");
    let hits = result
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["matches"] == true)
        .count();
    assert_eq!(hits, 1, "{result}");
    // Nothing changed.
    let (_, list) = seva.api("GET", "/api/v1/conversations", None);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    for id in ids {
        let c = conversation(&seva, id);
        assert!(c["priority"] == "normal" && c["tags"] == json!([]), "{c}");
    }
}
