//! The live chat protocol without a browser (SQLite and PostgreSQL): a visitor writes and
//! an agent answers; a reconnect gets what it missed, once; duplicate client ids are
//! stored once; acks come in order for pipelined messages; malformed and oversized frames
//! get clear errors on a connection that stays; a token of another inbox and a page of a
//! foreign origin open no session; the queue position is honest.

mod common;

use std::time::Duration;

use common::chat::*;
use common::{Seva, team};
use serde_json::{Value, json};
use tungstenite::Message;

#[test]
fn a_visitor_writes_an_agent_answers_and_a_reconnect_gets_what_it_missed_once() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    let welcome = hello(&mut ws, None, 0);
    assert_eq!(welcome["greeting"], "Hello!");
    let token = welcome["token"]
        .as_str()
        .expect("a new visitor gets a token")
        .to_string();
    let ack = say(&mut ws, "c-1", "My order has not arrived");
    assert!(ack["seq"].as_i64().unwrap() > 0, "{ack}");
    let conversation = conversation_of(&seva, "My order has not arrived");

    answer(
        &seva,
        &conversation,
        "Let me look: what is the order number?",
    );
    let frames = until(&mut ws, "message");
    let mut line = frames.last().unwrap().clone();
    // Our own line comes back first (with the seq of its ack), then the answer.
    if line["from"] == "visitor" {
        assert_eq!(line["seq"], ack["seq"]);
        line = until(&mut ws, "message").pop().unwrap();
    }
    assert_eq!(
        (line["from"].as_str(), line["text"].as_str()),
        (
            Some("agent"),
            Some("Let me look: what is the order number?")
        )
    );
    let last_seen = line["seq"].as_i64().unwrap();
    drop(ws);

    // While the visitor is away, two answers; an internal note is never shown.
    answer(
        &seva,
        &conversation,
        "Found it: it left the warehouse today.",
    );
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(json!({"kind": "note", "text": "courier is late again"})),
    );
    assert_eq!(s, 201);
    answer(&seva, &conversation, "It will be with you tomorrow.");

    let mut ws = connect(&seva, &inbox);
    let welcome = hello(&mut ws, Some(&token), last_seen);
    assert!(
        welcome["token"].is_null(),
        "a known visitor keeps their token"
    );
    let mut got = Vec::new();
    while got.len() < 2 {
        let f = next(&mut ws);
        if f["type"] == "message" {
            got.push(f["text"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        got,
        [
            "Found it: it left the warehouse today.",
            "It will be with you tomorrow."
        ]
    );
    // Nothing more comes: a ping is answered next, not a repeated line.
    send(&mut ws, json!({"type": "ping"}));
    let frames = until(&mut ws, "pong");
    assert!(frames.iter().all(|f| f["type"] != "message"), "{frames:?}");

    // Asking again from an older point replays exactly what came after it.
    send(&mut ws, json!({"type": "resume", "after": last_seen}));
    let mut replay = Vec::new();
    while replay.len() < 2 {
        let f = next(&mut ws);
        if f["type"] == "message" {
            replay.push(f["text"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(replay, got);
}

#[test]
fn a_repeated_client_id_is_stored_once_and_pipelined_messages_are_acked_in_order() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    let first = say(&mut ws, "dup-1", "Hello, is anyone there?");
    // The network lost the ack: the client sends the same message again.
    let again = say(&mut ws, "dup-1", "Hello, is anyone there?");
    assert_eq!(first["seq"], again["seq"]);
    assert_eq!(again["duplicate"], true);
    let conversation = conversation_of(&seva, "Hello, is anyone there?");
    let (_, messages) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/messages"),
        None,
    );
    let inbound = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "inbound")
        .count();
    assert_eq!(inbound, 1, "{messages}");

    // Three sent without waiting: three acks, in the order sent, with growing seqs.
    for n in 1..=3 {
        send(
            &mut ws,
            json!({"type": "message", "client_id": format!("p-{n}"), "text": format!("part {n}")}),
        );
    }
    let mut acks = Vec::new();
    while acks.len() < 3 {
        let f = next(&mut ws);
        if f["type"] == "ack" {
            acks.push((
                f["client_id"].as_str().unwrap().to_string(),
                f["seq"].as_i64().unwrap(),
            ));
        }
    }
    assert_eq!(
        acks.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["p-1", "p-2", "p-3"]
    );
    assert!(acks.windows(2).all(|w| w[0].1 < w[1].1), "{acks:?}");
}

#[test]
fn malformed_and_oversized_frames_get_clear_errors_on_a_connection_that_stays() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    send(
        &mut ws,
        json!({"type": "message", "client_id": "x", "text": "too early"}),
    );
    assert_eq!(next(&mut ws)["code"], "hello_first");
    ws.send(Message::text("this is not JSON")).unwrap();
    assert_eq!(next(&mut ws)["code"], "bad_frame");
    send(&mut ws, json!({"type": "hello", "v": 99}));
    assert_eq!(next(&mut ws)["code"], "version");
    hello(&mut ws, None, 0);
    let huge = "ఆ".repeat(10_000); // 30,000 bytes of Telugu
    send(
        &mut ws,
        json!({"type": "message", "client_id": "big", "text": huge}),
    );
    assert_eq!(next(&mut ws)["code"], "too_large");
    send(&mut ws, json!({"type": "message", "text": "no id"}));
    assert_eq!(next(&mut ws)["code"], "bad_frame");
    send(&mut ws, json!({"type": "dance"}));
    assert_eq!(next(&mut ws)["code"], "unknown_type");
    // Still open, and still working.
    let ack = say(&mut ws, "ok-1", "Still here");
    assert!(ack["seq"].is_i64());
    assert!(
        seva.server_log().lines().all(|l| !l.contains("panicked")),
        "{}",
        seva.server_log()
    );
}

#[test]
fn a_token_of_another_inbox_and_a_foreign_origin_open_no_session() {
    let seva = Seva::start();
    let shop = chat_inbox(&seva, "shop-chat", None);
    let other = chat_inbox(&seva, "other-chat", None);
    let mut ws = connect(&seva, &shop);
    let token = hello(&mut ws, None, 0)["token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut ws = connect(&seva, &other);
    send(&mut ws, json!({"type": "hello", "v": 1, "token": token}));
    assert_eq!(next(&mut ws)["code"], "bad_token");
    assert_eq!(next(&mut ws), json!({"type": "closed", "code": 4001}));

    match connect_from(&seva, &shop, Some("http://evil.test")) {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("a foreign origin was let in: {:?}", other.map(|_| ())),
    }
    // Seva's own pages may always connect.
    let own = seva.base.clone();
    assert!(connect_from(&seva, &shop, Some(&own)).is_ok());
}

#[test]
fn the_queue_position_is_one_then_two_and_moves_up_when_an_agent_takes_the_first() {
    let seva = Seva::start();
    let support = team(
        &seva,
        "Chat team",
        json!({"strategy": "manual"}),
        &["mira@example.com"],
    );
    let inbox = chat_inbox(&seva, "website-chat", Some(&support));
    let mut first = connect(&seva, &inbox);
    hello(&mut first, None, 0);
    say(&mut first, "a", "First in line");
    let place = until(&mut first, "queue").pop().unwrap();
    assert_eq!(place["position"], 1, "{place}");

    let mut second = connect(&seva, &inbox);
    hello(&mut second, None, 0);
    say(&mut second, "b", "Second in line");
    let place = until(&mut second, "queue").pop().unwrap();
    assert_eq!(place["position"], 2, "{place}");

    let taken = conversation_of(&seva, "First in line");
    let mira = common::agent_id(&seva, "mira@example.com");
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{taken}/assign"),
        Some(json!({"owner_id": mira})),
    );
    assert_eq!(s, 200, "{body}");
    let place = until(&mut first, "queue").pop().unwrap();
    assert!(place["position"].is_null(), "picked up: {place}");
    let place = until(&mut second, "queue").pop().unwrap();
    assert_eq!(place["position"], 1, "{place}");
    assert!(
        place["estimated_wait"].is_i64(),
        "a wait learnt from the first pick-up: {place}"
    );
}

#[test]
fn a_visitor_who_leaves_before_anyone_answers_is_recorded_as_abandoned() {
    let seva = Seva::start();
    let support = team(&seva, "Chat team", json!({"strategy": "manual"}), &[]);
    let inbox = chat_inbox(&seva, "website-chat", Some(&support));
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    say(&mut ws, "a", "Anyone there? I have to go soon");
    let conversation = conversation_of(&seva, "Anyone there?");
    send(&mut ws, json!({"type": "leave"}));
    assert_eq!(until(&mut ws, "closed").pop().unwrap()["code"], 1000);
    let (_, events) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/events"),
        None,
    );
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "chat.abandoned").count(),
        1,
        "{kinds:?}"
    );
}

/// Typing goes both ways: the agents see the customer typing (in the conversation's
/// presence), and the visitor is told when an agent is writing a reply, and when they stop.
#[test]
fn the_agent_sees_the_visitor_typing_and_the_visitor_sees_the_agent_writing() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    send(&mut ws, json!({"type": "hello", "v": 1, "name": "Ravi"}));
    assert_eq!(next(&mut ws)["type"], "welcome");
    say(&mut ws, "t-1", "Can I change my delivery address?");
    let conversation = conversation_of(&seva, "Can I change my delivery address?");
    send(&mut ws, json!({"type": "typing"}));
    send(&mut ws, json!({"type": "ping"}));
    until(&mut ws, "pong");
    let (s, present) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/presence"),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(
        present,
        json!([{"agent_id": null, "name": "Ravi", "state": "typing"}])
    );

    let presence = |state: &str| {
        let (s, body) = seva.api(
            "POST",
            &format!("/api/v1/conversations/{conversation}/presence"),
            Some(json!({"state": state})),
        );
        assert_eq!(s, 200, "{body}");
    };
    presence("replying");
    let typing = until(&mut ws, "typing").pop().unwrap();
    assert_eq!(
        (typing["typing"].as_bool(), typing["name"].is_string()),
        (Some(true), true),
        "{typing}"
    );
    presence("viewing");
    let typing = until(&mut ws, "typing").pop().unwrap();
    assert_eq!(typing["typing"], false, "{typing}");
}

/// Read receipts both ways: the visitor says what they read, and the agents' answers up to
/// there show as read; an agent opening the conversation tells the visitor their lines
/// were seen.
#[test]
fn read_receipts_go_both_ways() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    say(&mut ws, "r-1", "Is the blue kettle in stock?");
    let conversation = conversation_of(&seva, "Is the blue kettle in stock?");
    answer(&seva, &conversation, "Yes, three left.");
    let line = loop {
        let f = until(&mut ws, "message").pop().unwrap();
        if f["from"] == "agent" {
            break f;
        }
    };
    send(&mut ws, json!({"type": "read", "seq": line["seq"]}));
    let until_read = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, messages) = seva.api(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        );
        let outbound = messages
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "outbound")
            .unwrap()
            .clone();
        if outbound["delivery"] == "read" {
            break;
        }
        assert!(
            std::time::Instant::now() < until_read,
            "never read: {outbound}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // An agent opens the conversation: the visitor's lines are seen.
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/presence"),
        Some(json!({"state": "viewing"})),
    );
    assert_eq!(s, 200);
    let seen = until(&mut ws, "read").pop().unwrap();
    assert!(
        seen["seq"].as_i64().unwrap() >= line["seq"].as_i64().unwrap(),
        "{seen}"
    );
}

fn upload(
    seva: &Seva,
    inbox: &str,
    origin: &str,
    token: &str,
    client_id: &str,
    name: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let boundary = "sevaTestBoundary7d3";
    let mut body = Vec::new();
    for (field, value) in [("token", token), ("client_id", client_id)] {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = Seva::agent()
        .post(&seva.url(&format!("/chat/v1/files?inbox={inbox}")))
        .header(
            "content-type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .header("origin", origin)
        .send(&body[..])
        .unwrap();
    common::read(res)
}

/// A visitor sends a file: stored once per client id, announced on the session, readable
/// by that visitor only; a bad token and a foreign page are refused.
#[test]
fn a_visitor_sends_a_file_and_only_they_can_read_it_back() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    let token = hello(&mut ws, None, 0)["token"]
        .as_str()
        .unwrap()
        .to_string();
    say(&mut ws, "f-0", "Here is a photo of the broken kettle");
    let photo: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let (s, ack) = upload(
        &seva,
        &inbox,
        "http://shop.test",
        &token,
        "f-1",
        "kettle.png",
        &photo,
    );
    assert_eq!(s, 200, "{ack}");
    let (s, again) = upload(
        &seva,
        &inbox,
        "http://shop.test",
        &token,
        "f-1",
        "kettle.png",
        &photo,
    );
    assert_eq!(
        (s, &again["seq"], &again["duplicate"]),
        (200, &ack["seq"], &json!(true))
    );
    let line = loop {
        let f = until(&mut ws, "message").pop().unwrap();
        if f["seq"] == ack["seq"] {
            break f;
        }
    };
    let file = &line["files"][0];
    assert_eq!(file["filename"], "kettle.png");
    let url = seva.url(&format!(
        "/chat/v1/files/{}?inbox={inbox}&token={token}",
        file["id"].as_str().unwrap()
    ));
    let mut res = Seva::agent().get(&url).call().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.body_mut().read_to_vec().unwrap(), photo);
    // The line's own link opens it without the token in the address; a changed
    // signature, a changed expiry or no signature at all open nothing.
    let link = file["url"].as_str().expect("a signed link");
    assert!(!link.contains(&token), "{link}");
    let mut res = Seva::agent().get(&seva.url(link)).call().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.body_mut().read_to_vec().unwrap(), photo);
    let sig = link.rsplit_once("sig=").unwrap().1;
    let flipped: String = sig.chars().rev().collect();
    let expires = link
        .split("expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap();
    let later = (expires.parse::<i64>().unwrap() + 1).to_string();
    for bad in [
        link.replace(sig, &flipped),
        link.replace(&format!("expires={expires}"), &format!("expires={later}")),
    ] {
        let res = Seva::agent().get(&seva.url(&bad)).call().unwrap();
        assert_eq!(res.status().as_u16(), 404, "{bad}");
    }
    let unsigned = link.split("&expires=").next().unwrap();
    let (s, problem) = common::read(Seva::agent().get(&seva.url(unsigned)).call().unwrap());
    assert_eq!(
        (s, problem["field"].as_str()),
        (401, Some("sig")),
        "{problem}"
    );

    // Another visitor's token reads nothing of it; a bad token and a foreign page send nothing.
    let mut other = connect(&seva, &inbox);
    let stranger = hello(&mut other, None, 0)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = Seva::agent()
        .get(&url.replace(&token, &stranger))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let (s, problem) = upload(
        &seva,
        &inbox,
        "http://shop.test",
        "not-a-token",
        "f-2",
        "x.png",
        b"x",
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (401, Some("token")),
        "{problem}"
    );
    let (s, _) = upload(
        &seva,
        &inbox,
        "http://evil.test",
        &token,
        "f-3",
        "x.png",
        b"x",
    );
    assert_eq!(s, 403);
    let conversation = conversation_of(&seva, "Here is a photo");
    let (_, messages) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/messages"),
        None,
    );
    let with_files = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["attachments"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(with_files, 1, "{messages}");
}

/// An agent solving the chat tells the visitor it ended; writing again opens a new one.
#[test]
fn a_solved_chat_ends_for_the_visitor_and_writing_again_opens_a_new_one() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    let first = say(&mut ws, "e-1", "Thanks, that solved it");
    let conversation = first["conversation_id"].as_str().unwrap().to_string();
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(s, 200, "{body}");
    until(&mut ws, "ended");
    let again = say(&mut ws, "e-2", "One more question");
    assert_ne!(again["conversation_id"], first["conversation_id"]);
}

fn post_frame(seva: &Seva, inbox: &str, frame: Value) -> Value {
    let res = Seva::agent()
        .post(&seva.url(&format!("/chat/v1/frames?inbox={inbox}")))
        .header("content-type", "text/plain")
        .header("origin", "http://shop.test")
        .send(frame.to_string())
        .unwrap();
    let (s, body) = common::read(res);
    assert_eq!(s, 200, "{body}");
    body
}

/// Where WebSocket is blocked: frames are posted over HTTP and the session's frames come
/// as server-sent events; the same visitor, acks and lines.
#[test]
fn the_fallback_without_websocket_posts_frames_and_streams_the_answers() {
    use std::io::BufRead;
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let welcome = post_frame(
        &seva,
        &inbox,
        json!({"type": "hello", "v": 1, "name": "Maria"}),
    );
    assert_eq!(welcome[0]["type"], "welcome", "{welcome}");
    let token = welcome[0]["token"].as_str().unwrap().to_string();
    let answers = post_frame(
        &seva,
        &inbox,
        json!({"type": "message", "token": token, "client_id": "s-1", "text": "Hello from behind a proxy"}),
    );
    let ack = answers
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "ack")
        .expect("an ack")
        .clone();
    let conversation = ack["conversation_id"].as_str().unwrap().to_string();
    // The same client id again: stored once.
    let again = post_frame(
        &seva,
        &inbox,
        json!({"type": "message", "token": token, "client_id": "s-1", "text": "Hello from behind a proxy"}),
    );
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "ack" && f["duplicate"] == true),
        "{again}"
    );

    let res = Seva::agent()
        .get(&seva.url(&format!(
            "/chat/v1/events?inbox={inbox}&token={token}&after={}",
            ack["seq"]
        )))
        .header("origin", "http://shop.test")
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://shop.test")
    );
    let mut lines = std::io::BufReader::new(res.into_body().into_reader()).lines();
    answer(&seva, &conversation, "We read you fine.");
    let frame = loop {
        let line = lines.next().expect("the stream goes on").unwrap();
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let f: Value = serde_json::from_str(data).unwrap();
        if f["type"] == "message" {
            break f;
        }
    };
    assert_eq!(
        (frame["from"].as_str(), frame["text"].as_str()),
        (Some("agent"), Some("We read you fine."))
    );
    // A frame without a valid token is refused; a bad body too.
    let res = Seva::agent()
        .post(&seva.url(&format!("/chat/v1/frames?inbox={inbox}")))
        .send(
            json!({"type": "message", "token": "nope", "client_id": "x", "text": "x"}).to_string(),
        )
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = Seva::agent()
        .post(&seva.url(&format!("/chat/v1/frames?inbox={inbox}")))
        .send("not json")
        .unwrap();
    let (s, problem) = common::read(res);
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("body")),
        "{problem}"
    );
    // So is a query string that cannot be read, as a problem naming the parameter.
    let res = Seva::agent()
        .get(&seva.url(&format!(
            "/chat/v1/events?inbox={inbox}&token={token}&after=soon"
        )))
        .call()
        .unwrap();
    let (s, problem) = common::read(res);
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("after")),
        "{problem}"
    );
}

#[test]
fn a_visitor_who_wrote_while_nobody_was_online_gets_the_answer_by_email_and_replies_into_the_chat()
{
    use common::mail::{SUPPORT, mail, swaks};
    use common::relay::Relay;

    let seva = Seva::start();
    let relay = Relay::start();
    let (s, body) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "support", "channel": "email", "address": SUPPORT,
                    "settings": {"relay": {"host": "127.0.0.1", "port": relay.port, "security": "none"}}})),
    );
    assert_eq!(s, 201, "{body}");
    // Settings that could never work are refused, naming the field.
    for (settings, field) in [
        (json!({"email_inbox": "nowhere"}), "settings.email_inbox"),
        (
            json!({"email_inbox": "support", "email_after_seconds": 0}),
            "settings.email_after_seconds",
        ),
    ] {
        let (s, problem) = seva.api(
            "POST",
            "/api/v1/inboxes",
            Some(json!({"name": "bad-chat", "channel": "chat", "settings": settings})),
        );
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    let (s, chat) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "website-chat", "channel": "chat", "settings": {
            "allowed_origins": ["http://shop.test"], "email_inbox": "support", "email_after_seconds": 1,
            "away_message": {"en": "We are open 9 to 17, Monday to Friday."}}})),
    );
    assert_eq!(s, 201, "{chat}");
    let inbox = chat["id"].as_str().unwrap().to_string();

    let mut ws = connect(&seva, &inbox);
    let welcome = hello(&mut ws, None, 0);
    assert_eq!(
        (
            &welcome["agents_online"],
            &welcome["email_answers"],
            &welcome["email_known"]
        ),
        (&json!(false), &json!(true), &json!(false)),
        "{welcome}"
    );
    assert_eq!(
        welcome["away_message"],
        "We are open 9 to 17, Monday to Friday."
    );
    let token = welcome["token"].as_str().unwrap().to_string();
    // The widget offers to answer by email; a wrong address is refused, a right one kept.
    send(
        &mut ws,
        json!({"type": "contact", "email": "not an address"}),
    );
    let refused = until(&mut ws, "error").pop().unwrap();
    assert_eq!(refused["code"], "invalid", "{refused}");
    send(
        &mut ws,
        json!({"type": "contact", "name": "Ravi Kumar", "email": "Ravi@Example.in"}),
    );
    let kept = until(&mut ws, "contact").pop().unwrap();
    assert_eq!(kept["email"], "ravi@example.in");
    say(&mut ws, "c-1", "Is my refund on its way?");
    let conversation = conversation_of(&seva, "Is my refund on its way?");
    // The visitor closes the page; two answers come while they are away.
    drop(ws);
    answer(&seva, &conversation, "Yes: it left our bank today.");
    answer(&seva, &conversation, "You will see it by Friday.");

    let sent = relay.wait_for(1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        relay.count(),
        1,
        "both unread answers go in one mail: {:?}",
        relay
            .mail
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.parsed().text)
            .collect::<Vec<_>>()
    );
    let mail_out = sent[0].parsed();
    assert_eq!(sent[0].to, ["ravi@example.in"]);
    assert_eq!(mail_out.from.email, SUPPORT);
    assert!(
        mail_out.text.contains("Yes: it left our bank today.")
            && mail_out.text.contains("You will see it by Friday."),
        "{}",
        mail_out.text
    );
    let (_, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}"),
        None,
    );
    let reference = c["reference"].as_i64().unwrap();
    assert!(
        mail_out.subject.contains(&format!("[#{reference}]")),
        "{}",
        mail_out.subject
    );
    let reply_to = mail_out.reply_to.clone().unwrap().email;
    assert!(
        reply_to.starts_with(&format!("support+{reference}-")),
        "{reply_to}"
    );
    let answers: Vec<Value> = common::messages(&seva, &conversation)
        .into_iter()
        .filter(|m| m["kind"] == "outbound")
        .collect();
    assert_eq!(answers.len(), 2);
    assert!(
        answers.iter().all(|m| m["delivery"] == "sent"),
        "{answers:?}"
    );

    // The visitor answers the mail: it lands in the same conversation.
    let (ok, transcript) = swaks(
        &seva,
        &reply_to,
        &mail(
            "Ravi Kumar <ravi@example.in>",
            &mail_out.subject.replace("[#", "Re: [#"),
            "",
            "Thank you, I will look on Friday.",
        ),
    );
    assert!(ok, "{transcript}");
    let all = common::messages(&seva, &conversation);
    assert!(
        all.iter().any(|m| m["kind"] == "inbound"
            && m["channel"] == "email"
            && m["text"]
                .as_str()
                .unwrap()
                .contains("I will look on Friday")),
        "{all:?}"
    );

    // Back in the chat, the visitor reads the next answer there: it is not mailed.
    let mut ws = connect(&seva, &inbox);
    let welcome = hello(&mut ws, Some(&token), 0);
    assert_eq!(welcome["email_known"], true, "{welcome}");
    answer(&seva, &conversation, "Anything else I can do?");
    let line = loop {
        let f = until(&mut ws, "message").pop().unwrap();
        if f["text"] == "Anything else I can do?" {
            break f;
        }
    };
    send(&mut ws, json!({"type": "read", "seq": line["seq"]}));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(relay.count(), 1, "an answer read in the chat is not mailed");
    let last = common::messages(&seva, &conversation)
        .into_iter()
        .rfind(|m| m["kind"] == "outbound")
        .unwrap();
    assert_eq!(last["delivery"], "read", "{last}");
}

#[test]
fn an_agent_answers_over_the_same_protocol_once_per_client_id_and_hears_the_visitor_typing() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let other_inbox = chat_inbox(&seva, "other-chat", None);
    let mut visitor = connect(&seva, &inbox);
    hello(&mut visitor, None, 0);
    say(&mut visitor, "v-1", "Does the kettle come in red?");
    let conversation = conversation_of(&seva, "Does the kettle come in red?");

    // Not signed in, or signed in but on another site's page: no agent session.
    for mut ws in [
        connect(&seva, &inbox),
        connect_as_agent(&seva, &inbox, Some("http://shop.test")),
    ] {
        send(
            &mut ws,
            json!({"type": "hello", "v": 1, "as": "agent", "conversation": conversation}),
        );
        let refused = next(&mut ws);
        assert_eq!(refused["code"], "unauthorized", "{refused}");
        assert_eq!(next(&mut ws)["code"], 4003);
    }
    // A conversation of another inbox is not found through this one.
    let mut elsewhere = connect_as_agent(&seva, &other_inbox, None);
    send(
        &mut elsewhere,
        json!({"type": "hello", "v": 1, "as": "agent", "conversation": conversation}),
    );
    assert_eq!(next(&mut elsewhere)["code"], "not_found");

    let mut agent = connect_as_agent(&seva, &inbox, None);
    send(
        &mut agent,
        json!({"type": "hello", "v": 1, "as": "agent", "conversation": conversation, "after": 0}),
    );
    let welcome = next(&mut agent);
    assert_eq!(
        (welcome["type"].as_str(), welcome["as"].as_str()),
        (Some("welcome"), Some("agent")),
        "{welcome}"
    );
    // From `after`, the agent gets the chat's lines, the visitor's first.
    let first = until(&mut agent, "message").pop().unwrap();
    assert_eq!(first["text"], "Does the kettle come in red?");

    // The answer is acknowledged after its commit, and a retry stores nothing new.
    let answer =
        json!({"type": "message", "client_id": "a-1", "text": "It does: red, blue and steel."});
    send(&mut agent, answer.clone());
    let ack = until(&mut agent, "ack").pop().unwrap();
    assert_eq!(ack["duplicate"], false, "{ack}");
    send(&mut agent, answer);
    let again = until(&mut agent, "ack").pop().unwrap();
    assert_eq!(
        (&again["duplicate"], &again["id"]),
        (&json!(true), &ack["id"])
    );
    let outbound: Vec<Value> = common::messages(&seva, &conversation)
        .into_iter()
        .filter(|m| m["kind"] == "outbound")
        .collect();
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    assert_eq!(outbound[0]["id"], ack["id"]);
    // The visitor sees it as an agent's line.
    let line = loop {
        let f = until(&mut visitor, "message").pop().unwrap();
        if f["from"] == "agent" {
            break f;
        }
    };
    assert_eq!(line["text"], "It does: red, blue and steel.");

    // The agent hears the visitor typing, and the visitor sees the agent writing.
    send(&mut visitor, json!({"type": "typing"}));
    let typing = until(&mut agent, "typing").pop().unwrap();
    assert_eq!(typing["typing"], true, "{typing}");
    send(&mut agent, json!({"type": "typing"}));
    let writing = until(&mut visitor, "typing").pop().unwrap();
    assert_eq!(writing["typing"], true, "{writing}");
    // Frames an agent has no business sending get a clear error on a session that stays.
    send(&mut agent, json!({"type": "handoff"}));
    assert_eq!(
        until(&mut agent, "error").pop().unwrap()["code"],
        "unknown_type"
    );
    send(&mut agent, json!({"type": "ping"}));
    until(&mut agent, "pong");
}

#[test]
fn a_visitor_marked_as_spam_is_still_acknowledged_but_their_next_chat_is_filed_away() {
    let seva = Seva::start();
    let inbox = chat_inbox(&seva, "website-chat", None);
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    let first = say(&mut ws, "s-1", "Cheap watches here");
    let conversation = first["conversation_id"].as_str().unwrap().to_string();
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/spam"),
        Some(json!({"spam": true})),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (&c["status"], &c["tags"]),
        (&json!("solved"), &json!(["spam"]))
    );
    let contact = c["contact_id"].as_str().unwrap().to_string();
    until(&mut ws, "ended");

    // What they write next is stored and acknowledged, and filed as spam at once.
    let again = say(&mut ws, "s-2", "Τελευταία ευκαιρία");
    let second = again["conversation_id"].as_str().unwrap().to_string();
    assert_ne!(second, conversation);
    let (s, c) = seva.api("GET", &format!("/api/v1/conversations/{second}"), None);
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (&c["status"], &c["tags"], &c["contact_id"], &c["owner_id"]),
        (
            &json!("solved"),
            &json!(["spam"]),
            &json!(contact),
            &Value::Null
        )
    );
    let lines = common::messages(&seva, &second);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["text"], "Τελευταία ευκαιρία");
    let (_, open) = seva.api("GET", "/api/v1/conversations?status=open", None);
    assert_eq!(open["data"].as_array().unwrap().len(), 0, "{open}");
    // Sent again (a reconnect resends what was not acknowledged): stored once.
    let repeated = say(&mut ws, "s-2", "Τελευταία ευκαιρία");
    assert_eq!(repeated["seq"], again["seq"]);
    assert_eq!(common::messages(&seva, &second).len(), 1);

    // Let back: their next chat is an open conversation like anyone's.
    let (s, who) = seva.api(
        "PATCH",
        &format!("/api/v1/contacts/{contact}"),
        Some(json!({"blocked": false})),
    );
    assert_eq!(s, 200, "{who}");
    assert!(who["blocked_at"].is_null(), "{who}");
    let third = say(&mut ws, "s-3", "A real question about my order");
    let third = third["conversation_id"].as_str().unwrap().to_string();
    assert_ne!(third, second);
    let (_, c) = seva.api("GET", &format!("/api/v1/conversations/{third}"), None);
    assert_eq!(
        (&c["status"], &c["tags"]),
        (&json!("open"), &json!([])),
        "{c}"
    );
}
