//! SLA clocks through the API, on a server whose clock the test moves (`test_clock`):
//! business hours in the team's time zone with a holiday, warnings and breaches fired by
//! the sweep, a first reply stopping its clock, and a pause while waiting on the customer.

mod common;

use std::time::{Duration, Instant};

use common::Seva;
use serde_json::{Value, json};

fn set_now(seva: &Seva, rfc3339: &str) {
    let (s, body) = seva.api("POST", "/api/v1/test/clock", Some(json!({"now": rfc3339})));
    assert_eq!(s, 200, "{body}");
}

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
    set_now(&seva, "2026-11-27T15:55:00Z");
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
    set_now(&seva, "2026-11-30T20:00:00Z");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !events_of(&seva, &id)
            .iter()
            .any(|k| k.starts_with("sla.warning"))
    );
    // Tuesday 09:30 in Athens: the warning, not yet the breach.
    set_now(&seva, "2026-12-01T07:30:00Z");
    wait_for_event(&seva, &id, "sla.warning");
    assert!(!events_of(&seva, &id).iter().any(|k| k == "sla.breached"));
    // 10:00: breached, and the record stays on the clock.
    set_now(&seva, "2026-12-01T08:00:00Z");
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
    set_now(&seva, "2026-11-24T10:00:00Z");
    let id = create(&seva, "normal");
    set_now(&seva, "2026-11-24T10:20:00Z");
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
    set_now(&seva, "2026-11-25T10:20:00Z");
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
    set_now(&seva, "2026-11-25T12:00:00Z");
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
