//! Routing through the API (SQLite and PostgreSQL): round robin under parallel arrivals,
//! a Telugu conversation reaching the agent who speaks Telugu (and the team's queue when
//! that agent is away), and capacity leaving the rest in the queue.

mod common;

use std::collections::HashMap;

use common::mail::{SUPPORT, mail, send};
use common::{Seva, agent_id, team};
use serde_json::{Value, json};

fn arrive(seva: &Seva, team: &str, n: usize, text: &str) -> Value {
    let (s, body) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": format!("c{n}@example.com")}, "subject": format!("arrival {n}"), "text": text, "team_id": team})),
    );
    assert_eq!(s, 201, "{body}");
    let (s, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{}", body["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(s, 200);
    c
}

#[test]
fn round_robin_under_sixteen_parallel_arrivals_is_even_and_never_doubles() {
    let seva = Seva::start();
    let agents = [
        "rr1@example.com",
        "rr2@example.com",
        "rr3@example.com",
        "rr4@example.com",
    ];
    let team = team(
        &seva,
        "Roadside",
        json!({"strategy": "round_robin", "capacity": null}),
        &agents,
    );
    let seva_ref = &seva;
    let team_ref = &team;
    let owners: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|n| {
                s.spawn(move || arrive(seva_ref, team_ref, n, "My car stopped on the highway"))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap()["owner_id"]
                    .as_str()
                    .expect("assigned")
                    .to_string()
            })
            .collect()
    });
    let mut per_agent: HashMap<String, usize> = HashMap::new();
    for o in owners {
        *per_agent.entry(o).or_default() += 1;
    }
    assert_eq!(per_agent.len(), 4, "{per_agent:?}");
    assert!(
        per_agent.values().all(|n| *n == 4),
        "every agent gets its turn: {per_agent:?}"
    );
}

#[test]
fn a_telugu_conversation_reaches_the_telugu_speaker_or_waits_in_the_queue() {
    let seva = Seva::start();
    let team = team(
        &seva,
        "Support",
        json!({"strategy": "least_busy", "capacity": null}),
        &["lakshmi@example.com", "john@example.com"],
    );
    let lakshmi = agent_id(&seva, "lakshmi@example.com");
    let john = agent_id(&seva, "john@example.com");
    let (s, body) = seva.api(
        "PUT",
        &format!("/api/v1/agents/{lakshmi}/routing"),
        Some(json!({"available": true, "languages": ["te", "en"]})),
    );
    assert_eq!(s, 200, "{body}");
    let te = arrive(&seva, &team, 1, "నా కారు హైవేపై ఆగిపోయింది, దయచేసి సహాయం చేయండి");
    assert_eq!(te["language"], "te");
    assert_eq!(te["owner_id"], lakshmi.as_str());
    // English goes to whoever is least busy: John.
    let en = arrive(
        &seva,
        &team,
        2,
        "My car broke down on the highway, please help",
    );
    assert_eq!(en["owner_id"], john.as_str());
    // With Lakshmi away, Telugu waits in the team's queue rather than going to John.
    let (s, _) = seva.api(
        "PUT",
        &format!("/api/v1/agents/{lakshmi}/routing"),
        Some(json!({"available": false, "languages": ["te", "en"]})),
    );
    assert_eq!(s, 200);
    let waiting = arrive(&seva, &team, 3, "దయచేసి ఎవరైనా సమాధానం ఇవ్వండి, నా ఆర్డర్ రాలేదు");
    assert!(waiting["owner_id"].is_null(), "{waiting}");
    assert_eq!(waiting["team_id"], team.as_str());
    // An agent may not change someone else's availability.
    let other = seva.user("intruder@example.com", "agent", "a long test password");
    let (s, _) = seva.api_as(
        &other,
        "PUT",
        &format!("/api/v1/agents/{john}/routing"),
        Some(json!({"available": false, "languages": []})),
    );
    assert_eq!(s, 403);
}

#[test]
fn capacity_leaves_the_rest_in_the_queue() {
    let seva = Seva::start();
    // `1.0`: a whole number written with a fraction is an integer, as JSON Schema says.
    let team = team(
        &seva,
        "Billing",
        json!({"strategy": "least_busy", "capacity": 1.0}),
        &["b1@example.com", "b2@example.com"],
    );
    let first = arrive(&seva, &team, 1, "Please refund my payment");
    let second = arrive(&seva, &team, 2, "Please refund my payment too");
    assert!(first["owner_id"].is_string() && second["owner_id"].is_string());
    assert_ne!(first["owner_id"], second["owner_id"]);
    let third = arrive(&seva, &team, 3, "And mine, please");
    assert!(
        third["owner_id"].is_null(),
        "both agents are at capacity: {third}"
    );
    let (s, body) = seva.api(
        "PUT",
        &format!("/api/v1/teams/{team}/routing"),
        Some(json!({"strategy": "sideways"})),
    );
    assert_eq!(s, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("sideways"),
        "{body}"
    );
}

/// Capacity per channel: the team lets each agent hold one API conversation (and three in
/// all); one agent's own limit lets her hold two. An email still reaches an agent whose API
/// limit is full, until the total is reached.
#[test]
fn capacity_per_channel_counts_each_channel_apart_and_an_agents_own_limit_wins() {
    let seva = Seva::start();
    let team = team(
        &seva,
        "Chat desk",
        json!({"strategy": "least_busy", "capacity": 3, "channel_capacity": {"api": 1}}),
        &["c1@example.com", "c2@example.com"],
    );
    let c2 = agent_id(&seva, "c2@example.com");
    let (s, body) = seva.api(
        "PUT",
        &format!("/api/v1/agents/{c2}/routing"),
        Some(json!({"available": true, "languages": [], "channel_capacity": {"api": 2}})),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["channel_capacity"], json!({"api": 2}));
    let (s, inbox) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(
            json!({"name": "support", "channel": "email", "address": SUPPORT, "team_id": team,
                    "settings": {"auto_acknowledge": false}}),
        ),
    );
    assert_eq!(s, 201, "{inbox}");

    let owners: Vec<Value> = (1..=4)
        .map(|n| arrive(&seva, &team, n, "Where is my order?")["owner_id"].clone())
        .collect();
    let c2_held = owners.iter().filter(|o| **o == json!(c2)).count();
    assert_eq!(c2_held, 2, "c2 may hold two API conversations: {owners:?}");
    assert_eq!(
        owners.iter().filter(|o| o.is_string()).count(),
        3,
        "one for c1 (the team's API limit), two for c2: {owners:?}"
    );
    assert!(owners[3].is_null(), "the fourth waits: {owners:?}");

    // An email is another channel: c1, at its API limit, still takes it.
    send(
        &seva,
        &mail("e1@example.com", "By email", "", "Where is my order?"),
    );
    let (_, list) = seva.api("GET", "/api/v1/conversations?status=open&limit=50", None);
    let email = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "email")
        .expect("the email conversation")
        .clone();
    assert!(
        email["owner_id"].is_string() && email["owner_id"] != json!(c2),
        "the email goes to c1, who has room in all: {email}"
    );

    let (s, body) = seva.api(
        "PUT",
        &format!("/api/v1/teams/{team}/routing"),
        Some(json!({"strategy": "least_busy", "channel_capacity": {"chat": 0}})),
    );
    assert_eq!(s, 422, "{body}");
    assert!(body.to_string().contains("channel_capacity.chat"), "{body}");
    let (s, body) = seva.api(
        "PUT",
        &format!("/api/v1/teams/{team}/routing"),
        Some(json!({"strategy": "least_busy", "channel_capacity": {"pigeon": 2}})),
    );
    assert_eq!(s, 422, "{body}");
    assert!(body.to_string().contains("pigeon"), "{body}");
}

/// Skill match: a rule turns the customer's words into a topic (a tag) on arrival, and the
/// conversation goes to the agent who handles that topic; one without a topic goes to
/// whoever is least busy.
#[test]
fn skill_match_sends_a_refund_to_the_refunds_agent_and_a_crash_to_the_technician() {
    let seva = Seva::start();
    let team = team(
        &seva,
        "Support",
        json!({"strategy": "skill_match"}),
        &["refunds@example.com", "tech@example.com"],
    );
    for (email, skills) in [
        ("refunds@example.com", ["refunds"]),
        ("tech@example.com", ["technical"]),
    ] {
        let id = agent_id(&seva, email);
        let (s, body) = seva.api(
            "PUT",
            &format!("/api/v1/agents/{id}/routing"),
            Some(
                json!({"available": true, "languages": ["en", "el", "te", "tl"], "skills": skills}),
            ),
        );
        assert_eq!(s, 200, "{body}");
    }
    for (name, words, tag) in [
        (
            "Refunds",
            json!(["refund", "επιστροφή χρημάτων", "వాపసు"]),
            "refunds",
        ),
        (
            "Technical",
            json!(["crash", "κολλάει", "error"]),
            "technical",
        ),
    ] {
        let (s, body) = seva.api(
            "POST",
            "/api/v1/rules",
            Some(json!({"name": name, "trigger": "conversation.created",
                "conditions": [{"field": "text", "op": "contains_any", "value": words}],
                "actions": [{"type": "add_tag", "value": tag}]})),
        );
        assert_eq!(s, 201, "{body}");
    }
    let refunds = agent_id(&seva, "refunds@example.com");
    let tech = agent_id(&seva, "tech@example.com");
    for n in 0..3 {
        let c = arrive(&seva, &team, 100 + n, "I want a refund for my order please");
        assert_eq!(c["owner_id"], refunds.as_str(), "{c}");
    }
    let c = arrive(&seva, &team, 200, "Η εφαρμογή κολλάει όταν πληρώνω");
    assert_eq!(c["owner_id"], tech.as_str(), "{c}");
    // No topic: the least busy (the technician has one, the refunds agent three).
    let c = arrive(&seva, &team, 300, "Hello, a question about opening hours");
    assert_eq!(c["owner_id"], tech.as_str(), "{c}");
}

/// Presence: with `require_online`, new conversations go only to agents whose desk is
/// open (their live stream); when the last desk closes they are offline, and arrivals
/// wait in the queue. Supervisors see who is online.
#[test]
fn a_team_that_requires_presence_routes_only_to_agents_whose_desk_is_open() {
    let seva = Seva::start();
    let team = team(
        &seva,
        "Live",
        json!({"strategy": "least_busy", "require_online": true}),
        &["here@example.com", "away@example.com"],
    );
    let here = agent_id(&seva, "here@example.com");
    for email in ["here@example.com", "away@example.com"] {
        let id = agent_id(&seva, email);
        let (s, _) = seva.api(
            "PUT",
            &format!("/api/v1/agents/{id}/routing"),
            Some(json!({"available": true, "languages": ["en", "el", "te", "tl"]})),
        );
        assert_eq!(s, 200);
    }
    let token = seva
        .cli(&["token", "create", "--user", "here@example.com"])
        .trim()
        .to_string();
    // Nobody's desk is open: the arrival waits.
    assert!(arrive(&seva, &team, 1, "Hello")["owner_id"].is_null());
    // Her desk opens (the live stream, as the inbox page holds it).
    let desk = Seva::agent()
        .get(&seva.url("/live"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let online = |who: &str| -> bool {
        let (_, queues) = seva.api("GET", "/api/v1/queues", None);
        queues
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|q| q["agents"].as_array().unwrap().clone())
            .any(|a| a["agent_id"] == who && a["online"] == true)
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !online(&here) {
        assert!(std::time::Instant::now() < until, "never online");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for n in 2..5 {
        assert_eq!(arrive(&seva, &team, n, "Hello")["owner_id"], here.as_str());
    }
    // The desk closes: offline, and the next arrival waits again. The server notices
    // when its keep-alive write to the closed stream fails (every 5 s; two writes).
    drop(desk);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while online(&here) {
        assert!(std::time::Instant::now() < until, "never offline");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(arrive(&seva, &team, 5, "Hello")["owner_id"].is_null());
}
