//! SLA clocks through the API, on a server whose clock the test moves (`test_clock`):
//! business hours in the team's time zone with a holiday, warnings and breaches fired by
//! the sweep, a first reply stopping its clock, and a pause while waiting on the customer;
//! the Friday-evening Telugu email from arrival to an escalated breach.

mod common;

use std::time::{Duration, Instant};

use common::mail::{SUPPORT, mail, send};
use common::{Seva, agent_id, team};
use serde_json::{Value, json};

fn clocks(seva: &Seva, id: &str) -> Vec<Value> {
    let (s, body) = seva.api("GET", &format!("/api/v1/conversations/{id}/sla"), None);
    assert_eq!(s, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn clock<'a>(list: &'a [Value], metric: &str) -> &'a Value {
    list.iter()
        .find(|c| c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} clock in {list:?}"))
}

fn create(seva: &Seva, priority: &str) -> String {
    let (s, body) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "ravi@example.in"}, "subject": "కారు ఆగిపోయింది", "text": "హైవేపై కారు ఆగిపోయింది", "priority": priority})),
    );
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn events_of(seva: &Seva, id: &str) -> Vec<String> {
    let (s, body) = seva.api("GET", &format!("/api/v1/conversations/{id}/events"), None);
    assert_eq!(s, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for_event(seva: &Seva, id: &str, kind: &str) {
    let until = Instant::now() + Duration::from_secs(15);
    while !events_of(seva, id).iter().any(|k| k == kind) {
        assert!(
            Instant::now() < until,
            "no {kind} for {id}: {:?}",
            events_of(seva, id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Athens, Monday to Friday 09:00-18:00, with Monday 30 November 2026 a holiday.
fn athens_calendar(seva: &Seva) -> String {
    let (s, body) = seva.api(
        "POST",
        "/api/v1/calendars",
        Some(json!({"name": "Athens office", "spec": {
            "time_zone": "Europe/Athens",
            "week": {"monday": [["09:00", "18:00"]], "tuesday": [["09:00", "18:00"]], "wednesday": [["09:00", "18:00"]],
                     "thursday": [["09:00", "18:00"]], "friday": [["09:00", "18:00"]]},
            "holidays": ["2026-11-30"]}})),
    );
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

#[test]
fn deadlines_count_business_hours_and_the_sweep_warns_then_breaches() {
    let seva = Seva::start_with("test_clock = true\n");
    let calendar = athens_calendar(&seva);
    let (s, body) = seva.api(
        "POST",
        "/api/v1/sla_policies",
        Some(json!({"name": "Urgent", "conditions": {"priorities": ["urgent"]}, "calendar_id": calendar,
                    "first_response_minutes": 60, "resolution_minutes": 480, "warn_minutes": 30})),
    );
    assert_eq!(s, 201, "{body}");
    // Friday 27 November, 17:55 in Athens (UTC+2).
    seva.set_now("2026-11-27T15:55:00Z");
    let id = create(&seva, "urgent");
    let list = clocks(&seva, &id);
    // 5 minutes on Friday; Monday is a holiday; 55 minutes on Tuesday.
    assert_eq!(
        clock(&list, "first_response")["due_at"],
        "2026-12-01T07:55:00Z"
    );
    assert_eq!(
        clock(&list, "first_response")["warn_at"],
        "2026-12-01T07:25:00Z"
    );
    // 5 minutes on Friday and 7 h 55 on Tuesday.
    assert_eq!(clock(&list, "resolution")["due_at"], "2026-12-01T14:55:00Z");
    // A normal-priority conversation gets no clocks: no policy matches it.
    let other = create(&seva, "normal");
    assert!(clocks(&seva, &other).is_empty());

    // Nothing fires over the weekend and the holiday.
    seva.set_now("2026-11-30T20:00:00Z");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !events_of(&seva, &id)
            .iter()
            .any(|k| k.starts_with("sla.warning"))
    );
    // Tuesday 09:30 in Athens: the warning, not yet the breach.
    seva.set_now("2026-12-01T07:30:00Z");
    wait_for_event(&seva, &id, "sla.warning");
    assert!(!events_of(&seva, &id).iter().any(|k| k == "sla.breached"));
    // 10:00: breached, and the record stays on the clock.
    seva.set_now("2026-12-01T08:00:00Z");
    wait_for_event(&seva, &id, "sla.breached");
    let list = clocks(&seva, &id);
    assert!(clock(&list, "first_response")["breached_at"].is_string());
    assert!(clock(&list, "resolution")["breached_at"].is_null());
}

#[test]
fn a_first_reply_stops_its_clock_and_waiting_on_the_customer_pauses_resolution() {
    let seva = Seva::start_with("test_clock = true\n");
    // No calendar: every minute counts (UTC).
    let (s, body) = seva.api(
        "POST",
        "/api/v1/sla_policies",
        Some(json!({"name": "Everyone", "first_response_minutes": 30, "resolution_minutes": 600})),
    );
    assert_eq!(s, 201, "{body}");
    seva.set_now("2026-11-24T10:00:00Z");
    let id = create(&seva, "normal");
    seva.set_now("2026-11-24T10:20:00Z");
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"text": "On our way.", "kind": "reply", "status": "pending"})),
    );
    assert_eq!(s, 201, "{body}");
    let list = clocks(&seva, &id);
    assert_eq!(
        clock(&list, "first_response")["stopped_at"],
        "2026-11-24T10:20:00Z"
    );
    assert_eq!(
        clock(&list, "resolution")["paused_at"],
        "2026-11-24T10:20:00Z"
    );
    // A day later the customer answers: the clock resumes with its 580 minutes left.
    seva.set_now("2026-11-25T10:20:00Z");
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/status"),
        Some(json!({"status": "open"})),
    );
    assert_eq!(s, 200, "{body}");
    let list = clocks(&seva, &id);
    assert!(clock(&list, "resolution")["paused_at"].is_null());
    assert_eq!(clock(&list, "resolution")["due_at"], "2026-11-25T20:00:00Z");
    // Long after the first-response deadline, the met target never breaches.
    seva.set_now("2026-11-25T12:00:00Z");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(clock(&clocks(&seva, &id), "first_response")["breached_at"].is_null());
    // Solving stops the resolution clock.
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(s, 200);
    assert!(clock(&clocks(&seva, &id), "resolution")["stopped_at"].is_string());
}

#[test]
fn bad_calendars_and_policies_are_refused_and_the_test_clock_is_off_by_default() {
    let seva = Seva::start();
    let (s, body) = seva.api(
        "POST",
        "/api/v1/calendars",
        Some(json!({"name": "Mars", "spec": {"time_zone": "Mars/Olympus"}})),
    );
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["field"], "spec");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/calendars",
        Some(json!({"name": "Overlap", "spec": {"time_zone": "Asia/Manila", "week": {"monday": [["09:00", "13:00"], ["12:00", "18:00"]]}}})),
    );
    assert_eq!(s, 422, "{body}");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/sla_policies",
        Some(json!({"name": "Nothing"})),
    );
    assert_eq!(s, 422, "{body}");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/sla_policies",
        Some(json!({"name": "Bad", "first_response_minutes": 10, "conditions": {"tier": "vip"}})),
    );
    assert_eq!(s, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("tier"), "{body}");
    let (s, _) = seva.api(
        "POST",
        "/api/v1/test/clock",
        Some(json!({"now": "2030-01-01T00:00:00Z"})),
    );
    assert_eq!(s, 404, "no clock to move on a normal server");
}

/// The whole path of the scenario: a Telugu email at 17:55 on the Friday before
/// a holiday Monday reaches the Telugu-speaking agent with Tuesday's deadlines; the
/// customer's answer to our reply starts a next-response clock; and its breach escalates
/// by rule (priority raised, reassigned to the lead, supervisors told).
#[test]
fn a_telugu_email_on_friday_evening_reaches_ravi_with_tuesday_deadlines_and_a_breach_escalates() {
    let seva = Seva::start_with("test_clock = true\n");
    let calendar = athens_calendar(&seva);
    let support = team(
        &seva,
        "Support",
        json!({"strategy": "least_busy"}),
        &["nikos@example.com", "ravi@example.com", "lead@example.com"],
    );
    let (nikos, ravi, lead) = (
        agent_id(&seva, "nikos@example.com"),
        agent_id(&seva, "ravi@example.com"),
        agent_id(&seva, "lead@example.com"),
    );
    for (agent, languages, available) in [
        (&nikos, ["el"], true),
        (&ravi, ["te"], true),
        (&lead, ["en"], false),
    ] {
        let (s, body) = seva.api(
            "PUT",
            &format!("/api/v1/agents/{agent}/routing"),
            Some(json!({"available": available, "languages": languages})),
        );
        assert_eq!(s, 200, "{body}");
    }
    let (s, inbox) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(
            json!({"name": "support", "channel": "email", "address": SUPPORT, "team_id": support,
                    "settings": {"auto_acknowledge": false}}),
        ),
    );
    assert_eq!(s, 201, "{inbox}");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/sla_policies",
        Some(json!({"name": "Email", "conditions": {"channels": ["email"]}, "calendar_id": calendar,
                    "first_response_minutes": 60, "next_response_minutes": 120, "resolution_minutes": 480,
                    "warn_minutes": 30})),
    );
    assert_eq!(s, 201, "{body}");
    let (s, body) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(json!({"name": "Escalate breaches", "trigger": "sla.breached",
            "actions": [{"type": "set_priority", "value": "urgent"}, {"type": "assign", "value": lead},
                        {"type": "notify", "value": "supervisors"}]})),
    );
    assert_eq!(s, 201, "{body}");

    // Friday 27 November 2026, 17:55 in Athens.
    seva.set_now("2026-11-27T15:55:00Z");
    send(
        &seva,
        &mail(
            "lakshmi@example.in",
            "కారు బీమా క్లెయిమ్",
            "Message-ID: <claim-1@example.in>\r\n",
            "నమస్కారం, నా కారు బీమా క్లెయిమ్ గురించి వినియోగదారుల సేవా విభాగానికి రాస్తున్నాను. దయచేసి సహాయం చేయండి.",
        ),
    );
    let (_, list) = seva.api("GET", "/api/v1/conversations", None);
    let c = list["data"][0].clone();
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["language"], "te");
    assert_eq!(
        c["owner_id"],
        ravi.as_str(),
        "the Telugu speaker, not Nikos"
    );
    let list = clocks(&seva, &id);
    assert_eq!(
        clock(&list, "first_response")["due_at"],
        "2026-12-01T07:55:00Z"
    );
    assert_eq!(
        clock(&list, "first_response")["warn_at"],
        "2026-12-01T07:25:00Z"
    );
    assert_eq!(clock(&list, "resolution")["due_at"], "2026-12-01T14:55:00Z");

    // Ravi answers on Tuesday at 09:10; the customer writes back at 09:40.
    seva.set_now("2026-12-01T07:10:00Z");
    let ravi_token = seva
        .cli(&["token", "create", "--user", "ravi@example.com"])
        .trim()
        .to_string();
    let (s, body) = seva.api_as(
        &ravi_token,
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "reply", "text": "నమస్కారం, మీ క్లెయిమ్ నంబర్ పంపండి."})),
    );
    assert_eq!(s, 201, "{body}");
    let list = clocks(&seva, &id);
    assert!(clock(&list, "first_response")["stopped_at"].is_string());
    seva.set_now("2026-12-01T07:40:00Z");
    let reference = c["reference"].as_i64().unwrap();
    send(
        &seva,
        &mail(
            "lakshmi@example.in",
            &format!("Re: [#{reference}] కారు బీమా క్లెయిమ్"),
            "In-Reply-To: <claim-1@example.in>\r\n",
            "క్లెయిమ్ నంబర్ 4471.",
        ),
    );
    let list = clocks(&seva, &id);
    // Two business hours from 09:40 Athens: 11:40, that is 09:40 UTC.
    assert_eq!(
        clock(&list, "next_response")["due_at"],
        "2026-12-01T09:40:00Z"
    );
    assert!(clock(&list, "next_response")["stopped_at"].is_null());

    // Nobody answers: at 11:41 the next response breaches and the rule escalates.
    seva.set_now("2026-12-01T09:41:00Z");
    wait_for_event(&seva, &id, "rule.applied");
    let (_, c) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
    assert_eq!(c["priority"], "urgent");
    assert_eq!(c["owner_id"], lead.as_str());
    let list = clocks(&seva, &id);
    assert!(clock(&list, "next_response")["breached_at"].is_string());
    let (_, notes) = seva.api("GET", "/api/v1/notifications", None);
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["conversation_id"] == id.as_str()),
        "{notes}"
    );
    // One conversation throughout.
    let (_, list) = seva.api("GET", "/api/v1/conversations", None);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

/// Raising the priority brings the deadline closer at once: the running clock keeps its
/// start and takes the urgent policy's target; a conversation that matched no policy gets
/// clocks when its priority makes one match, also when a rule raises it on arrival.
#[test]
fn a_priority_change_retargets_the_running_clocks() {
    let seva = Seva::start_with("test_clock = true\n");
    for (name, priorities, minutes) in [
        ("Urgent", json!(["urgent"]), 60),
        ("High", json!(["high"]), 240),
    ] {
        let (s, body) = seva.api(
            "POST",
            "/api/v1/sla_policies",
            Some(json!({"name": name, "conditions": {"priorities": priorities}, "first_response_minutes": minutes, "warn_minutes": 10})),
        );
        assert_eq!(s, 201, "{body}");
    }
    seva.set_now("2026-12-01T08:00:00Z");
    let id = create(&seva, "normal");
    assert!(clocks(&seva, &id).is_empty(), "no policy for normal");
    let set = |priority: &str| {
        let (s, body) = seva.api(
            "POST",
            &format!("/api/v1/conversations/{id}/priority"),
            Some(json!({"priority": priority})),
        );
        assert_eq!(s, 200, "{body}");
    };
    seva.set_now("2026-12-01T08:30:00Z");
    set("high");
    // No clock before: it starts now, under the high policy.
    assert_eq!(
        clock(&clocks(&seva, &id), "first_response")["due_at"],
        "2026-12-01T12:30:00Z"
    );
    seva.set_now("2026-12-01T08:45:00Z");
    set("urgent");
    // The clock keeps its start (08:30) and takes the urgent target: 09:30.
    let list = clocks(&seva, &id);
    assert_eq!(
        clock(&list, "first_response")["due_at"],
        "2026-12-01T09:30:00Z"
    );
    assert_eq!(
        clock(&list, "first_response")["warn_at"],
        "2026-12-01T09:20:00Z"
    );
    assert!(events_of(&seva, &id).contains(&"sla.retargeted".to_string()));

    // A rule that makes a breakdown urgent on arrival starts the urgent clock, once.
    let (s, body) = seva.api(
        "POST",
        "/api/v1/rules",
        Some(
            json!({"name": "Breakdowns", "trigger": "conversation.created",
            "conditions": [{"field": "text", "op": "contains_any", "value": ["ఆగిపోయింది"]}],
            "actions": [{"type": "set_priority", "value": "urgent"}]}),
        ),
    );
    assert_eq!(s, 201, "{body}");
    let urgent = create(&seva, "normal");
    let list = clocks(&seva, &urgent);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        clock(&list, "first_response")["due_at"],
        "2026-12-01T09:45:00Z"
    );
}

/// Routing respects the team's working hours: what arrives on Saturday, or on the Monday
/// holiday, waits in the queue (no agent is given work while the team is closed) and is
/// handed out as soon as the team opens on Tuesday morning.
#[test]
fn a_team_with_working_hours_keeps_the_weekend_in_its_queue_and_hands_it_out_at_opening() {
    let seva = Seva::start_with("test_clock = true\n");
    let calendar = athens_calendar(&seva);
    let desk = team(
        &seva,
        "Athens desk",
        json!({"strategy": "round_robin", "calendar_id": calendar}),
        &["eleni@example.com", "yannis@example.com"],
    );
    for email in ["eleni@example.com", "yannis@example.com"] {
        let id = agent_id(&seva, email);
        let (s, body) = seva.api(
            "PUT",
            &format!("/api/v1/agents/{id}/routing"),
            Some(json!({"available": true, "languages": ["el", "en"]})),
        );
        assert_eq!(s, 200, "{body}");
    }
    let arrive = |n: usize| {
        let (s, body) = seva.api(
            "POST",
            "/api/v1/conversations",
            Some(json!({"contact": {"email": format!("weekend{n}@example.com")}, "subject": "Κλειδιά",
                        "text": "Έχασα τα κλειδιά του αυτοκινήτου", "team_id": desk})),
        );
        assert_eq!(s, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    };
    let owner = |id: &str| {
        let (_, c) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
        c["owner_id"].clone()
    };
    // Saturday 28 November 2026, 11:00 in Athens.
    seva.set_now("2026-11-28T09:00:00Z");
    let saturday = arrive(1);
    assert!(owner(&saturday).is_null(), "closed on Saturday");
    // Monday 30 November is a holiday.
    seva.set_now("2026-11-30T08:00:00Z");
    let holiday = arrive(2);
    assert!(owner(&holiday).is_null(), "closed on the holiday");
    // Tuesday 1 December, 09:01 in Athens: both are handed out, one to each agent.
    seva.set_now("2026-12-01T07:01:00Z");
    let until = Instant::now() + Duration::from_secs(15);
    while owner(&saturday).is_null() || owner(&holiday).is_null() {
        assert!(
            Instant::now() < until,
            "the queue was not handed out at opening: {}",
            seva.server_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(
        owner(&saturday),
        owner(&holiday),
        "round robin gives one each"
    );
    // While open, a new one is routed at once.
    let tuesday = arrive(3);
    assert!(owner(&tuesday).is_string());

    let (s, body) = seva.api(
        "PUT",
        &format!("/api/v1/teams/{desk}/routing"),
        Some(json!({"strategy": "round_robin", "calendar_id": "0190c4d2-0000-7000-8000-000000000000"})),
    );
    assert_eq!(
        (s, body["field"].as_str()),
        (422, Some("calendar_id")),
        "{body}"
    );
}
