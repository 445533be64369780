//! The email channel end to end: real SMTP clients (swaks, lettre) talk to the listener
//! inside `seva serve`; Seva's own mail goes out through a local relay, where the tests
//! read it as a mail client would.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::mail::{SUPPORT, mail, send, swaks};
use common::relay::{Delivered, Relay};
use common::{Seva, messages};
use serde_json::{Value, json};

/// Creates the email inbox `support` on `relay`; returns its id.
fn email_inbox(seva: &Seva, relay: &Relay, extra: Value) -> String {
    let mut settings = json!({
        "from_name": "Seva Support",
        "relay": {"host": "127.0.0.1", "port": relay.port, "security": "none", "username": "seva"},
        "auto_acknowledge": false,
    });
    if let (Some(s), Some(e)) = (settings.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    let (status, inbox) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({
            "name": "support", "channel": "email", "address": SUPPORT,
            "settings": settings, "secrets": {"relay_password": "relay-secret-1"},
        })),
    );
    assert_eq!(status, 201, "{inbox}");
    inbox["id"].as_str().unwrap().to_string()
}

fn conversations(seva: &Seva) -> Vec<Value> {
    let (s, list) = seva.api("GET", "/api/v1/conversations?limit=200", None);
    assert_eq!(s, 200, "{list}");
    list["data"].as_array().unwrap().clone()
}

fn only_conversation(seva: &Seva) -> Value {
    let list = conversations(seva);
    assert_eq!(list.len(), 1, "{list:#?}");
    list[0].clone()
}

fn reply(seva: &Seva, conversation: &str, text: &str) {
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(json!({"text": text, "kind": "reply"})),
    );
    assert_eq!(s, 201, "{body}");
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// lettre's SMTP client, pointed at the listener, and an envelope from `from` to support.
fn lettre_to_support(
    seva: &Seva,
    from: &str,
) -> (lettre::SmtpTransport, lettre::address::Envelope) {
    let (host, port) = seva.smtp.rsplit_once(':').unwrap();
    let client = lettre::SmtpTransport::builder_dangerous(host)
        .port(port.parse().unwrap())
        .build();
    let envelope =
        lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![SUPPORT.parse().unwrap()])
            .unwrap();
    (client, envelope)
}

fn brackets(id: &str) -> String {
    format!("<{id}>")
}

#[test]
fn a_new_message_is_acknowledged_and_replies_thread_every_way() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({"auto_acknowledge": true}));

    send(
        &seva,
        &mail(
            "Ravi <ravi@example.com>",
            "Order 1 never came",
            "Message-ID: <first@example.com>\r\n",
            "Where is my order?",
        ),
    );
    let c = only_conversation(&seva);
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["channel"], "email");
    assert_eq!(c["subject"], "Order 1 never came");
    let reference = c["reference"].as_i64().unwrap();

    // The acknowledgement: threaded to the customer's message, marked automatic.
    let ack = &relay.wait_for(1)[0];
    assert_eq!(ack.to, vec!["ravi@example.com"]);
    assert_eq!(
        ack.login,
        Some(("seva".into(), "relay-secret-1".into())),
        "the sealed relay password is used"
    );
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        ack.header("In-Reply-To"),
        Some(brackets("first@example.com"))
    );
    let ack_mail = ack.parsed();
    assert_eq!(
        ack_mail.subject,
        format!("Re: Order 1 never came [#{reference}]")
    );
    assert!(ack_mail.text.contains(&format!("#{reference}")));
    let ack_id = ack_mail.message_id.clone().unwrap();

    // The same message delivered twice is stored once.
    send(
        &seva,
        &mail(
            "Ravi <ravi@example.com>",
            "Order 1 never came",
            "Message-ID: <first@example.com>\r\n",
            "Where is my order?",
        ),
    );
    assert_eq!(
        messages(&seva, &id)
            .iter()
            .filter(|m| m["kind"] == "inbound")
            .count(),
        1
    );

    // The customer answers the acknowledgement before any agent has written.
    send(
        &seva,
        &mail(
            "ravi@example.com",
            &format!("Re: Order 1 never came [#{reference}]"),
            &format!(
                "Message-ID: <second@example.com>\r\nIn-Reply-To: <{ack_id}>\r\nReferences: <first@example.com> <{ack_id}>\r\n"
            ),
            "Also: it was a gift.\r\n\r\nOn Mon, 2 Apr 2026 at 10:00, Seva Support <support@seva.test> wrote:\r\n> Thank you for writing",
        ),
    );
    only_conversation(&seva);
    let ms = messages(&seva, &id);
    let second = ms
        .iter()
        .find(|m| m["external_id"] == "second@example.com")
        .unwrap();
    assert_eq!(
        second["text"], "Also: it was a gift.",
        "quoted history is folded away"
    );
    assert!(
        second["folded"]
            .as_str()
            .unwrap()
            .contains("Thank you for writing")
    );

    // An agent answers: a mail any client threads.
    reply(&seva, &id, "It ships today.");
    let answer = relay.wait_for(2)[1].clone();
    let parsed = answer.parsed();
    assert_eq!(
        parsed.subject,
        format!("Re: Order 1 never came [#{reference}]")
    );
    assert_eq!(
        answer.header("In-Reply-To"),
        Some(brackets("second@example.com"))
    );
    let refs = answer.header("References").unwrap();
    assert!(
        refs.contains("<first@example.com>")
            && refs.contains("<second@example.com>")
            && refs.contains(&ack_id),
        "{refs}"
    );
    let reply_to = parsed.reply_to.clone().unwrap().email;
    assert!(
        reply_to.starts_with(&format!("support+{reference}-")),
        "{reply_to}"
    );
    assert_eq!(parsed.from.email, SUPPORT);
    assert_eq!(parsed.from.name.as_deref(), Some("Seva Support"));
    assert!(
        answer.header("Auto-Submitted").is_none(),
        "a person's answer is not automatic"
    );
    wait_until("the answer to be marked sent", || {
        messages(&seva, &id)
            .iter()
            .any(|m| m["text"] == "It ships today." && m["delivery"] == "sent")
    });

    // A client that drops In-Reply-To but keeps the subject tag.
    send(
        &seva,
        &mail(
            "ravi@example.com",
            &format!("RE: Order 1 never came [#{reference}]"),
            "Message-ID: <third@example.com>\r\n",
            "Thanks!",
        ),
    );
    // A client that keeps only our reply address (new subject, no headers).
    let (ok, t) = swaks(
        &seva,
        &reply_to,
        &mail(
            "ravi@example.com",
            "one more thing",
            "Message-ID: <fourth@example.com>\r\n",
            "The box was wet.",
        ),
    );
    assert!(ok, "{t}");
    only_conversation(&seva);
    let texts: Vec<String> = messages(&seva, &id)
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        texts.contains(&"Thanks!".to_string()) && texts.contains(&"The box was wet.".to_string()),
        "{texts:?}"
    );

    // A reply address with a forged token does not reach the conversation.
    let forged = format!("support+{reference}-0000000000@seva.test");
    let (ok, t) = swaks(
        &seva,
        &forged,
        &mail(
            "mallory@example.net",
            "hello",
            "Message-ID: <m1@example.net>\r\n",
            "let me in",
        ),
    );
    assert!(ok, "{t}");
    assert_eq!(
        conversations(&seva).len(),
        2,
        "the forged reply address opened its own conversation"
    );
    // A subject tag from a stranger does not either.
    send(
        &seva,
        &mail(
            "mallory@example.net",
            &format!("Re: [#{reference}]"),
            "Message-ID: <m2@example.net>\r\n",
            "me too",
        ),
    );
    assert_eq!(conversations(&seva).len(), 3);
    assert!(
        messages(&seva, &id)
            .iter()
            .all(|m| m["text"] != "let me in" && m["text"] != "me too")
    );
}

#[test]
fn cc_threads_keep_the_requester_and_the_people_in_copy() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    // The first message goes to a colleague with us in Cc.
    send(
        &seva,
        "From: Maria <maria@example.ph>\r\nTo: Jun <jun@example.ph>\r\nCc: support@seva.test\r\nSubject: Nasira ang printer\r\n\
         Message-ID: <m1@example.ph>\r\n\r\nHindi gumagana ang printer.\r\n",
    );
    let c = only_conversation(&seva);
    let id = c["id"].as_str().unwrap().to_string();
    // She replies to her own first message (not to us), still with us in Cc.
    send(
        &seva,
        "From: Maria <maria@example.ph>\r\nTo: Jun <jun@example.ph>\r\nCc: support@seva.test\r\nSubject: Re: Nasira ang printer\r\n\
         Message-ID: <m2@example.ph>\r\nIn-Reply-To: <m1@example.ph>\r\n\r\nPati ang scanner.\r\n",
    );
    // Her manager, in Cc, answers the thread from his own address.
    send(
        &seva,
        "From: Boss <boss@example.ph>\r\nTo: support@seva.test\r\nCc: Maria <maria@example.ph>\r\nSubject: Re: Nasira ang printer\r\n\
         Message-ID: <m3@example.ph>\r\nIn-Reply-To: <m2@example.ph>\r\nReferences: <m1@example.ph> <m2@example.ph>\r\n\r\nPakiayos agad.\r\n",
    );
    only_conversation(&seva);
    let ms = messages(&seva, &id);
    assert_eq!(ms.len(), 3, "{ms:#?}");
    assert_eq!(ms[2]["author_name"], "Boss");
    // Our answer goes to the requester, with the colleague and the manager kept in copy.
    reply(&seva, &id, "Darating ang technician bukas.");
    let out = relay.wait_for(1)[0].clone();
    let p = out.parsed();
    assert_eq!(
        p.to.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        vec!["maria@example.ph"]
    );
    let mut cc: Vec<&str> = p.cc.iter().map(|m| m.email.as_str()).collect();
    cc.sort();
    assert_eq!(cc, vec!["boss@example.ph", "jun@example.ph"]);
    let mut envelope = out.to.clone();
    envelope.sort();
    assert_eq!(
        envelope,
        vec!["boss@example.ph", "jun@example.ph", "maria@example.ph"]
    );
    assert_eq!(out.header("In-Reply-To"), Some(brackets("m3@example.ph")));
}

#[test]
fn every_language_and_charset_arrives_intact_with_files() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    // Telugu, 8-bit, with an encoded-word subject.
    send(
        &seva,
        "From: =?UTF-8?B?4LCw4LC14LC/?= <ravi@example.in>\r\nTo: support@seva.test\r\n\
         Subject: =?UTF-8?B?4LC44LC54LC+4LCv4LCCIOCwleCwvuCwteCwvuCwsuCwvw==?=\r\nMessage-ID: <te@example.in>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nనా ఆర్డర్ ఇంకా రాలేదు.\r\n",
    );
    // Greek in ISO-8859-7, quoted-printable subject, with a PDF attached, sent by lettre.
    let greek_body: Vec<u8> = [
        0xC7u8, 0x20, 0xF0, 0xE1, 0xF1, 0xE1, 0xe3, 0xe3, 0xe5, 0xeb, 0xdf, 0xe1, 0x2e,
    ]
    .to_vec(); // "Η παραγγελία."
    let pdf = b"%PDF-1.4\n% receipt\n".to_vec();
    let mut raw = b"From: =?ISO-8859-7?Q?=CD=DF=EA=EF=F2?= <nikos@example.gr>\r\nTo: support@seva.test\r\n\
Subject: =?ISO-8859-7?Q?=D0=E1=F1=E1=E3=E3=E5=EB=DF=E1?=\r\nMessage-ID: <el@example.gr>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n--sep\r\nContent-Type: text/plain; charset=ISO-8859-7\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(&greek_body);
    raw.extend_from_slice(b"\r\n--sep\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"receipt.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    raw.extend_from_slice(b"JVBERi0xLjQKJSByZWNlaXB0Cg==\r\n--sep--\r\n");
    {
        use lettre::Transport;
        let (client, envelope) = lettre_to_support(&seva, "nikos@example.gr");
        let response = client
            .send_raw(&envelope, &raw)
            .expect("lettre sends to the listener");
        assert!(response.is_positive());
    }
    let list = conversations(&seva);
    assert_eq!(list.len(), 2);
    let te = list
        .iter()
        .find(|c| c["contact_name"] == "రవి")
        .expect("the Telugu sender's name is decoded");
    assert_eq!(te["subject"], "సహాయం కావాలి");
    let te_messages = messages(&seva, te["id"].as_str().unwrap());
    assert_eq!(te_messages[0]["text"], "నా ఆర్డర్ ఇంకా రాలేదు.");
    let el = list.iter().find(|c| c["contact_name"] == "Νίκος").unwrap();
    assert_eq!(el["subject"], "Παραγγελία");
    let el_messages = messages(&seva, el["id"].as_str().unwrap());
    assert_eq!(el_messages[0]["text"], "Η παραγγελία.");
    let file = &el_messages[0]["attachments"][0];
    assert_eq!(file["filename"], "receipt.pdf");
    let mut res = Seva::agent()
        .get(&seva.url(&format!(
            "/api/v1/attachments/{}",
            file["id"].as_str().unwrap()
        )))
        .header("Authorization", &format!("Bearer {}", seva.token))
        .call()
        .unwrap();
    assert_eq!(res.body_mut().read_to_vec().unwrap(), pdf);
    // The original is kept whole and can be downloaded.
    assert_eq!(el_messages[0]["has_source"], true);
    let mut res = Seva::agent()
        .get(&seva.url(&format!(
            "/api/v1/messages/{}/original",
            el_messages[0]["id"].as_str().unwrap()
        )))
        .header("Authorization", &format!("Bearer {}", seva.token))
        .call()
        .unwrap();
    // Byte for byte (lettre ends DATA with one more CRLF, which is part of the message).
    let original = res.body_mut().read_to_vec().unwrap();
    assert_eq!(
        &original[..raw.len()],
        &raw[..],
        "the original, byte for byte"
    );
}

#[test]
fn the_listener_refuses_strangers_oversize_and_junk_but_loses_nothing() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({"auto_acknowledge": true}));
    // Not an open relay.
    let (ok, t) = swaks(
        &seva,
        "someone@elsewhere.example",
        &mail("a@example.com", "hi", "", "x"),
    );
    assert!(!ok && t.contains("550 5.1.1"), "{t}");
    // 30 MB: refused with 552, nothing stored.
    let big = format!(
        "{}{}\r\n",
        mail(
            "a@example.com",
            "big",
            "Message-ID: <big@example.com>\r\n",
            ""
        ),
        "x".repeat(76).repeat(400_000).as_str()
    );
    let (ok, t) = swaks(&seva, SUPPORT, &big);
    assert!(
        !ok && t.contains("552 5.3.4"),
        "{}",
        &t[t.len().saturating_sub(2000)..]
    );
    assert!(conversations(&seva).is_empty());
    // No sender at all: a clear refusal.
    let (ok, t) = swaks(&seva, SUPPORT, "Subject: who am I\r\n\r\nnobody\r\n");
    assert!(
        !ok && t.contains("554 5.6.0") && t.contains("no sender"),
        "{t}"
    );
    // A long message (its original kept as a file, not in the database) reads back whole.
    let long = mail(
        "long@example.com",
        "long",
        "Message-ID: <long@example.com>\r\n",
        &"Μεγάλο μήνυμα. ".repeat(20_000),
    );
    send(&seva, &long);
    let c = conversations(&seva)[0].clone();
    let m = &messages(&seva, c["id"].as_str().unwrap())[0];
    let mut res = Seva::agent()
        .get(&seva.url(&format!(
            "/api/v1/messages/{}/original",
            m["id"].as_str().unwrap()
        )))
        .header("Authorization", &format!("Bearer {}", seva.token))
        .call()
        .unwrap();
    assert_eq!(res.status(), 200);
    let back = res
        .body_mut()
        .with_config()
        .limit(10 << 20)
        .read_to_vec()
        .unwrap();
    let back = String::from_utf8(back).unwrap();
    assert!(back.len() > 256 * 1024, "{}", back.len());
    assert!(back.trim_end().ends_with("Μεγάλο μήνυμα."));
    assert!(back.contains("Message-ID: <long@example.com>"));
    // Auto-replies and lists are stored but never answered.
    send(
        &seva,
        &mail(
            "ooo@example.com",
            "Out of office",
            "Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.com>\r\n",
            "I am away.",
        ),
    );
    send(
        &seva,
        &mail(
            "news@example.com",
            "News",
            "Precedence: bulk\r\nList-Id: <news.example.com>\r\nMessage-ID: <news@example.com>\r\n",
            "News.",
        ),
    );
    // Our own mail come back is dropped.
    send(
        &seva,
        &mail(SUPPORT, "loop", "Message-ID: <loop@seva.test>\r\n", "echo"),
    );
    assert_eq!(
        conversations(&seva).len(),
        3,
        "long, out-of-office and news; not the loop"
    );
    // The acknowledgement speaks the customer's language, read from their words.
    send(
        &seva,
        &mail(
            "eleni@example.gr",
            "Παραγγελία",
            "Message-ID: <el-ack@example.gr>\r\n",
            "Η παραγγελία μου δεν ήρθε ακόμα.",
        ),
    );
    let to_eleni = |m: &&Delivered| m.to == vec!["eleni@example.gr"];
    wait_until("the Greek acknowledgement", || {
        relay.mail.lock().unwrap().iter().any(|m| to_eleni(&m))
    });
    let greek_ack = relay
        .mail
        .lock()
        .unwrap()
        .iter()
        .find(to_eleni)
        .cloned()
        .unwrap();
    assert!(
        greek_ack.parsed().text.contains("Σας ευχαριστούμε"),
        "{}",
        greek_ack.parsed().text
    );
    // A person writing ten times in a minute gets three acknowledgements, not ten.
    for i in 0..10 {
        send(
            &seva,
            &mail(
                "eager@example.com",
                &format!("question {i}"),
                &format!("Message-ID: <q{i}@example.com>\r\n"),
                "?",
            ),
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    let acks: Vec<Delivered> = relay.mail.lock().unwrap().clone();
    assert_eq!(
        acks.iter()
            .filter(|m| m.to == vec!["eager@example.com"])
            .count(),
        3
    );
    assert!(
        acks.iter()
            .all(|m| m.to != vec!["ooo@example.com"] && m.to != vec!["news@example.com"])
    );
}

#[test]
fn a_bounce_marks_the_reply_it_refers_to_and_a_failing_relay_shows() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    send(
        &seva,
        &mail(
            "gone@example.com",
            "help",
            "Message-ID: <g1@example.com>\r\n",
            "help me",
        ),
    );
    let id = only_conversation(&seva)["id"].as_str().unwrap().to_string();
    reply(&seva, &id, "Here is your answer.");
    let sent = relay.wait_for(1)[0].parsed();
    let ours = sent.message_id.unwrap();
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: support@seva.test\r\nSubject: Undelivered Mail\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
         Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{ours}>\r\nSubject: Re: help\r\n\r\n--B--\r\n"
    );
    send(&seva, &dsn);
    let ms = messages(&seva, &id);
    let answer = ms
        .iter()
        .find(|m| m["text"] == "Here is your answer.")
        .unwrap();
    assert_eq!(answer["delivery"], "failed");
    assert!(
        answer["delivery_error"]
            .as_str()
            .unwrap()
            .contains("550 5.1.1 user unknown"),
        "{answer}"
    );
    assert_eq!(
        conversations(&seva).len(),
        1,
        "the bounce is not a conversation"
    );

    // A relay that refuses: the job fails with the relay's words, and is retried.
    let refusing = Relay::start_answering("554 5.7.1 relaying denied");
    let (s, inbox) = seva.api("GET", "/api/v1/inboxes", None);
    assert_eq!(s, 200);
    let inbox_id = inbox[0]["id"].as_str().unwrap();
    let (s, body) = seva.api(
        "PATCH",
        &format!("/api/v1/inboxes/{inbox_id}"),
        Some(json!({"settings": {"relay": {"host": "127.0.0.1", "port": refusing.port, "security": "none"}}})),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["secrets_set"],
        json!(["relay_password"]),
        "secrets survive a settings change"
    );
    assert!(body.get("secrets").is_none() && !body.to_string().contains("relay-secret-1"));
    reply(&seva, &id, "Second try.");
    wait_until("the failing job to show its error", || {
        let (_, jobs) = seva.api("GET", "/api/v1/jobs", None);
        jobs.as_array().is_some_and(|j| {
            j.iter().any(|j| {
                j["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("relaying denied"))
            })
        })
    });
}

#[test]
fn mail_deliver_speaks_an_mtas_exit_codes() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    let run = |inbox: &str, input: &str| {
        seva.cli_exit(&["mail", "deliver", "--inbox", inbox], input.as_bytes())
    };
    assert_eq!(
        run(
            "support",
            &mail(
                "p@example.com",
                "piped",
                "Message-ID: <p1@example.com>\r\n",
                "via the pipe"
            )
        ),
        0
    );
    assert_eq!(
        run(
            "support",
            &mail(
                "p@example.com",
                "piped",
                "Message-ID: <p1@example.com>\r\n",
                "via the pipe"
            )
        ),
        0
    );
    assert_eq!(run("nosuch", &mail("p@example.com", "x", "", "x")), 67);
    assert_eq!(run("support", "no headers at all"), 65);
    let c = only_conversation(&seva);
    assert_eq!(c["subject"], "piped");
    assert_eq!(messages(&seva, c["id"].as_str().unwrap()).len(), 1);
}

#[test]
fn a_solved_conversation_reopens_within_the_window_and_not_after() {
    let seva = Seva::start();
    let relay = Relay::start();
    let inbox = email_inbox(&seva, &relay, json!({}));
    send(
        &seva,
        &mail(
            "r@example.com",
            "login",
            "Message-ID: <r1@example.com>\r\n",
            "cannot log in",
        ),
    );
    let id = only_conversation(&seva)["id"].as_str().unwrap().to_string();
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(s, 200);
    send(
        &seva,
        &mail(
            "r@example.com",
            "Re: login",
            "Message-ID: <r2@example.com>\r\nIn-Reply-To: <r1@example.com>\r\n",
            "still broken",
        ),
    );
    assert_eq!(only_conversation(&seva)["status"], "open");
    // With a window of zero days, a reply to a solved conversation starts a new one.
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/status"),
        Some(json!({"status": "solved"})),
    );
    assert_eq!(s, 200);
    let (s, body) = seva.api(
        "PATCH",
        &format!("/api/v1/inboxes/{inbox}"),
        Some(json!({"settings": {"reopen_days": 0,
        "relay": {"host": "127.0.0.1", "port": relay.port, "security": "none"}}})),
    );
    assert_eq!(s, 200, "{body}");
    std::thread::sleep(Duration::from_millis(5));
    send(
        &seva,
        &mail(
            "r@example.com",
            "Re: login",
            "Message-ID: <r3@example.com>\r\nIn-Reply-To: <r2@example.com>\r\n",
            "again",
        ),
    );
    let list = conversations(&seva);
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .any(|c| c["id"] == id.as_str() && c["status"] == "solved")
    );
}

#[test]
fn every_cpython_test_message_becomes_a_conversation_or_a_clear_refusal() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    let dir = std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("test/test_email/data"))
        .find(|p| p.is_dir())
        .expect(
            "CPython's email test messages are missing: apt-get install libpython3.11-testsuite",
        );
    use lettre::Transport;
    let (client, envelope) = lettre_to_support(&seva, "corpus@example.com");
    let (mut stored, mut refused) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with("msg_") {
            continue;
        }
        let raw = std::fs::read(entry.path()).unwrap();
        match client.send_raw(&envelope, &raw) {
            Ok(r) => {
                assert!(r.is_positive(), "{name}");
                stored += 1;
            }
            Err(e) => {
                assert!(
                    e.to_string().contains("no sender") || e.to_string().contains("no headers"),
                    "{name}: {e}"
                );
                assert!(
                    e.is_permanent(),
                    "{name}: a refusal must be permanent, not 'try later': {e}"
                );
                refused += 1;
            }
        }
    }
    assert!(stored >= 30, "{stored} stored, {refused} refused");
    let (s, _) = seva.api("GET", "/healthz", None);
    assert_eq!(s, 200, "the server survived the corpus");
    assert!(!conversations(&seva).is_empty());
}

#[test]
fn imap_polling_stores_each_message_once_across_restarts() {
    let imap = common::dovecot::Dovecot::start();
    imap.deliver(&mail(
        "a@example.com",
        "first by imap",
        "Message-ID: <i1@example.com>\r\n",
        "one",
    ));
    imap.deliver(&mail(
        "b@example.com",
        "second by imap",
        "Message-ID: <i2@example.com>\r\n",
        "two",
    ));
    let mut seva = Seva::start_with("imap_rescan_seconds = 1\n");
    let relay = Relay::start();
    email_inbox(
        &seva,
        &relay,
        json!({"imap": {"host": "127.0.0.1", "port": imap.port, "security": "none", "username": imap.user, "poll_seconds": 5}}),
    );
    let inbox = seva.api("GET", "/api/v1/inboxes", None).1[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = seva.api(
        "PATCH",
        &format!("/api/v1/inboxes/{inbox}"),
        Some(json!({"secrets": {"imap_password": imap.password}})),
    );
    assert_eq!(s, 200, "{body}");
    wait_until("both messages fetched", || conversations(&seva).len() == 2);
    // New mail arrives while Seva waits in IDLE.
    imap.deliver(&mail(
        "c@example.com",
        "third by imap",
        "Message-ID: <i3@example.com>\r\n",
        "three",
    ));
    wait_until("the third message", || conversations(&seva).len() == 3);
    // A restart neither skips nor repeats: one more message, and nothing twice.
    seva.restart();
    imap.deliver(&mail(
        "d@example.com",
        "fourth by imap",
        "Message-ID: <i4@example.com>\r\n",
        "four",
    ));
    wait_until("the fourth message", || conversations(&seva).len() == 4);
    std::thread::sleep(Duration::from_millis(1500));
    let mut subjects: Vec<String> = conversations(&seva)
        .iter()
        .map(|c| c["subject"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "first by imap",
            "fourth by imap",
            "second by imap",
            "third by imap"
        ]
    );
}

/// A test CA and a server certificate it signed for localhost and 127.0.0.1:
/// (ca.pem, cert.pem, key.pem).
fn test_certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let script = "set -e
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=Seva Test CA' -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out server.csr
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out cert.pem
        chmod 644 key.pem";
    let made = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("openssl makes the test certificates");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn imaps_verifies_the_server_and_trusts_a_configured_ca() {
    let certs = std::env::temp_dir().join(format!("seva-imaps-{}", common::unique()));
    let (ca, cert, key) = test_certificates(&certs);
    let imap = common::dovecot::Dovecot::start_with_tls(Some((&cert, &key)));
    imap.deliver(&mail(
        "s@example.com",
        "over imaps",
        "Message-ID: <s1@example.com>\r\n",
        "secure",
    ));
    let seva = Seva::start_with("imap_rescan_seconds = 1\n");
    let relay = Relay::start();
    let account = json!({"host": "127.0.0.1", "port": imap.port, "security": "tls", "username": imap.user, "poll_seconds": 5});
    let inbox = email_inbox(&seva, &relay, json!({"imap": account}));
    let (s, _) = seva.api(
        "PATCH",
        &format!("/api/v1/inboxes/{inbox}"),
        Some(json!({"secrets": {"imap_password": imap.password}})),
    );
    assert_eq!(s, 200);
    // A certificate nobody vouches for is refused: nothing is fetched.
    wait_until("the refusal in the log", || {
        seva.server_log().contains("IMAP polling failed")
    });
    assert!(conversations(&seva).is_empty());
    // Trusting the server's CA lets the poller in.
    let mut trusted = account.clone();
    trusted["ca_pem"] = json!(std::fs::read_to_string(&ca).unwrap());
    let (s, body) = seva.api(
        "PATCH",
        &format!("/api/v1/inboxes/{inbox}"),
        Some(json!({"settings": {"imap": trusted, "relay": {"host": "127.0.0.1", "port": relay.port, "security": "none"}}})),
    );
    assert_eq!(s, 200, "{body}");
    wait_until("the message over IMAPS", || conversations(&seva).len() == 1);
    assert_eq!(only_conversation(&seva)["subject"], "over imaps");
    std::fs::remove_dir_all(certs).unwrap();
}

#[test]
fn starttls_protects_the_listener_when_a_certificate_is_configured() {
    let certs = std::env::temp_dir().join(format!("seva-tls-{}", common::unique()));
    let (_, cert, key) = test_certificates(&certs);
    let seva = Seva::start_with(&format!(
        "smtp_tls_cert = \"{}\"\nsmtp_tls_key = \"{}\"\n",
        cert.display(),
        key.display()
    ));
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    let (host, port) = seva.smtp.rsplit_once(':').unwrap();
    let out = Command::new("swaks")
        .args([
            "--server",
            host,
            "--port",
            port,
            "--from",
            "tls@example.com",
            "--to",
            SUPPORT,
            "--tls",
        ])
        .args(["--header", "Subject: over TLS", "--body", "Κρυπτογραφημένο"])
        .output()
        .expect("swaks must be installed");
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{t}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.contains("STARTTLS") && t.contains("TLS started"), "{t}");
    assert!(t.contains("250 2.0.0 stored as #"), "{t}");
    assert_eq!(only_conversation(&seva)["subject"], "over TLS");
    std::fs::remove_dir_all(certs).unwrap();
}

#[test]
fn dkim_signatures_on_our_mail_verify() {
    let dir = std::env::temp_dir().join(format!("seva-dkim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("dkim.pem");
    let made = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let public = Command::new("openssl")
        .args(["rsa", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success());
    // dkimpy, the reference verifier, fetched from PyPI for the test.
    let lib = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dkimpy");
    if !lib.join("dkim").is_dir() {
        let pip = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&lib)
            .arg("dkimpy==1.1.8")
            .status()
            .expect("python3 with pip is needed to fetch dkimpy");
        assert!(pip.success(), "pip could not install dkimpy");
    }

    let seva = Seva::start();
    let relay = Relay::start();
    let inbox = email_inbox(
        &seva,
        &relay,
        json!({"dkim": {"selector": "sel1", "domain": "seva.test"}}),
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    let (s, body) = seva.api(
        "PATCH",
        &format!("/api/v1/inboxes/{inbox}"),
        Some(json!({"secrets": {"dkim_private_key": pem}})),
    );
    assert_eq!(s, 200, "{body}");
    assert!(!body.to_string().contains("PRIVATE KEY"));
    send(
        &seva,
        &mail(
            "d@example.com",
            "sign me",
            "Message-ID: <d1@example.com>\r\n",
            "hello",
        ),
    );
    reply(
        &seva,
        only_conversation(&seva)["id"].as_str().unwrap(),
        "Υπογεγραμμένη απάντηση.",
    );
    let out = relay.wait_for(1)[0].clone();
    let signature = out.header("DKIM-Signature").expect("our mail is signed");
    assert!(
        signature.contains("d=seva.test") && signature.contains("s=sel1"),
        "{signature}"
    );
    let message = dir.join("signed.eml");
    std::fs::write(&message, &out.data).unwrap();
    let der = dir.join("public.der");
    std::fs::write(&der, &public.stdout).unwrap();
    let b64 = String::from_utf8(
        Command::new("base64")
            .arg("-w0")
            .arg(&der)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = format!(
        "import sys, dkim\nmsg = open(sys.argv[1], 'rb').read()\n\
         ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: b'v=DKIM1; k=rsa; p={b64}')\nprint('verified' if ok else 'bad signature')\nsys.exit(0 if ok else 1)\n"
    );
    let verify = Command::new("python3")
        .env("PYTHONPATH", &lib)
        .arg("-c")
        .arg(script)
        .arg(&message)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "dkimpy: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A new email's acknowledgement lists the published articles that answer it, in the
/// customer's language.
#[test]
fn the_acknowledgement_suggests_articles_that_answer_the_question() {
    let seva = Seva::start();
    let relay = Relay::start();
    let (s, en) = seva.api(
        "POST",
        "/api/v1/articles",
        Some(
            json!({"lang": "en", "title": "How refunds work", "status": "published",
                    "body": "A refund reaches your card within five days of the return arriving."}),
        ),
    );
    assert_eq!(s, 201, "{en}");
    let (s, el) = seva.api(
        "POST",
        "/api/v1/articles",
        Some(json!({"lang": "el", "title": "Επιστροφή χρημάτων", "status": "published", "translation_of": en["id"],
                    "body": "Η επιστροφή χρημάτων φτάνει στην κάρτα σας σε πέντε ημέρες."})),
    );
    assert_eq!(s, 201, "{el}");
    let started = Instant::now();
    loop {
        let (_, found) = seva.api(
            "GET",
            "/api/v1/search?q=%CE%BA%CE%AC%CF%81%CF%84%CE%B1",
            None,
        );
        if found["hits"].as_array().is_some_and(|h| !h.is_empty()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never indexed: {found}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    email_inbox(&seva, &relay, json!({"auto_acknowledge": true}));
    send(
        &seva,
        &mail(
            "Eleni <eleni@example.gr>",
            "Επιστροφή χρημάτων",
            "Message-ID: <refund@example.gr>\r\n",
            "Πότε φτάνει η επιστροφή χρημάτων στην κάρτα μου;",
        ),
    );
    let ack = &relay.wait_for(1)[0];
    let text = ack.parsed().text;
    assert!(
        text.contains("Επιστροφή χρημάτων") && text.contains("/help/el/"),
        "{text}"
    );
    assert!(
        !text.contains("How refunds work"),
        "one article per group, in Greek: {text}"
    );
}

/// The message delivery states of a conversation's answers, once none is still queued.
fn answers_settled(seva: &Seva, conversation: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<String> = messages(seva, conversation)
            .into_iter()
            .filter(|m| m["kind"] == "outbound")
            .map(|m| m["delivery"].as_str().unwrap_or_default().to_string())
            .collect();
        if states.iter().all(|s| s != "queued") || Instant::now() > deadline {
            return states;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_web_form_inbox_that_answers_by_email_mails_the_answer_and_the_reply_comes_back() {
    use common::{reference_in, submit_form_to};
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    // Settings that could never work are refused, naming the field.
    for (settings, field) in [
        (json!({"email_inbox": "nowhere"}), "settings.email_inbox"),
        (json!({"colour": "#ffffff"}), "settings.colour"),
    ] {
        let (s, problem) = seva.api(
            "POST",
            "/api/v1/inboxes",
            Some(json!({"name": "bad-form", "channel": "web_form", "settings": settings})),
        );
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    for (name, settings) in [
        ("forms", json!({"email_inbox": "support"})),
        ("quiet-form", json!({})),
    ] {
        let (s, inbox) = seva.api(
            "POST",
            "/api/v1/inboxes",
            Some(json!({"name": name, "channel": "web_form", "settings": settings})),
        );
        assert_eq!(s, 201, "{inbox}");
    }
    let ask = |inbox: &str, email: &str, subject: &str| {
        let (status, html) = submit_form_to(
            &seva,
            Some(inbox),
            &[
                ("name", "Ελένη Παπαδοπούλου"),
                ("email", email),
                ("subject", subject),
                ("message", "Πότε θα επιστραφούν τα χρήματά μου;"),
            ],
            &[],
        );
        assert_eq!(status, 200, "{html}");
        // The thank-you page says where the answer will come, when it comes by email too.
        assert_eq!(
            html.contains(&format!(
                "We will also send our answer to {}.",
                email.to_lowercase()
            )),
            inbox == "forms",
            "{html}"
        );
        let reference = reference_in(&html).expect("a reference");
        conversations(&seva)
            .into_iter()
            .find(|c| c["reference"] == reference)
            .expect("the form's conversation")["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let answer = |conversation: &str, text: &str| {
        let (s, m) = seva.api(
            "POST",
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"kind": "reply", "text": text})),
        );
        assert_eq!(s, 201, "{m}");
    };

    let mailed = ask("forms", "Eleni@Example.gr", "Επιστροφή χρημάτων");
    answer(&mailed, "Τα χρήματα επιστράφηκαν σήμερα.");
    let sent = relay.wait_for(1);
    assert_eq!(sent[0].to, ["eleni@example.gr"]);
    let out = sent[0].parsed();
    assert_eq!(out.from.email, SUPPORT);
    assert!(
        out.text.contains("Τα χρήματα επιστράφηκαν σήμερα."),
        "{}",
        out.text
    );
    assert!(
        out.subject.contains("Επιστροφή χρημάτων"),
        "{}",
        out.subject
    );
    assert_eq!(answers_settled(&seva, &mailed), ["sent"]);

    // The customer answers the mail: it lands in the same conversation.
    let reply_to = out.reply_to.clone().expect("a reply address").email;
    let (ok, transcript) = swaks(
        &seva,
        &reply_to,
        &mail(
            "Ελένη Παπαδοπούλου <eleni@example.gr>",
            &format!("Re: {}", out.subject),
            "",
            "Ευχαριστώ, τα είδα.",
        ),
    );
    assert!(ok, "{transcript}");
    assert!(
        messages(&seva, &mailed)
            .iter()
            .any(|m| m["kind"] == "inbound"
                && m["channel"] == "email"
                && m["text"].as_str().unwrap().contains("τα είδα")),
        "the reply by email joins the form's conversation"
    );

    // A form whose inbox names no email inbox keeps its answers on the request page.
    let kept = ask("quiet-form", "nikos@example.gr", "Ερώτηση");
    answer(&kept, "Ναι, το έχουμε.");
    assert_eq!(answers_settled(&seva, &kept), ["delivered"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(relay.count(), 1, "nothing more was mailed");
}

#[test]
fn an_agent_writes_first_by_email_and_the_customers_answer_joins_the_conversation() {
    let seva = Seva::start();
    let relay = Relay::start();
    let inbox = email_inbox(&seva, &relay, json!({}));
    let (s, form) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "forms", "channel": "web_form"})),
    );
    assert_eq!(s, 201, "{form}");
    let letter = |extra: Value| {
        let mut body = json!({
            "contact": {"email": "Ravi@Example.in", "name": "రవి కుమార్"},
            "subject": "మీ ఆర్డర్ గురించి",
            "text": "నమస్కారం రవి గారు, మీ ఆర్డర్ రేపు చేరుతుంది.",
            "direction": "outbound",
            "inbox_id": inbox,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    // Each refusal names its field, and writes nothing: no conversation, no contact.
    for (extra, field) in [
        (json!({"inbox_id": null}), "inbox_id"),
        (json!({"inbox_id": form["id"]}), "inbox_id"),
        (
            json!({"inbox_id": "01900000-0000-7000-8000-000000000000"}),
            "inbox_id",
        ),
        (
            json!({"contact": {"phone": "+919876543210"}}),
            "contact.email",
        ),
        (json!({"subject": "  "}), "subject"),
        (json!({"copy": ["priya at example"]}), "copy"),
        (json!({"status": "closed"}), "status"),
        (
            json!({"owner_id": "01900000-0000-7000-8000-000000000000"}),
            "owner_id",
        ),
    ] {
        let (s, problem) = seva.api("POST", "/api/v1/conversations", Some(letter(extra)));
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    assert!(conversations(&seva).is_empty());
    let (_, contacts) = seva.api("GET", "/api/v1/contacts?q=ravi", None);
    assert_eq!(contacts.as_array().map(Vec::len), Some(0), "{contacts}");
    assert!(relay.mail.lock().unwrap().is_empty());

    // The letter goes out from the inbox, and the conversation waits for the customer.
    let (s, created) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(letter(
            json!({"status": "pending", "copy": ["Priya@Example.in"]}),
        )),
    );
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().unwrap().to_string();
    let sent = relay.wait_for(1);
    // Her colleague, in copy from the start, receives the first message too.
    let mut to = sent[0].to.clone();
    to.sort();
    assert_eq!(to, ["priya@example.in", "ravi@example.in"]);
    assert!(
        sent[0]
            .header("Cc")
            .is_some_and(|cc| cc.contains("priya@example.in"))
    );
    let out = sent[0].parsed();
    assert_eq!(out.from.email, SUPPORT);
    assert!(out.subject.contains("మీ ఆర్డర్ గురించి"), "{}", out.subject);
    assert!(out.text.contains("మీ ఆర్డర్ రేపు చేరుతుంది"), "{}", out.text);
    assert_eq!(answers_settled(&seva, &id), ["sent"]);
    let c = only_conversation(&seva);
    let admin = common::agent_id(&seva, common::ADMIN);
    assert_eq!(
        (
            &c["channel"],
            &c["status"],
            &c["owner_id"],
            &c["message_count"]
        ),
        (&json!("email"), &json!("pending"), &json!(admin), &json!(1)),
        "{c}"
    );
    assert_eq!(c["contact_name"], "రవి కుమార్");
    let (_, events) = seva.api("GET", &format!("/api/v1/conversations/{id}/events"), None);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "message.created",
            "conversation.assigned",
            "conversation.copy_changed",
            "conversation.status_changed",
            "message.delivery"
        ],
        "{events}"
    );

    // The customer answers the mail: it joins the conversation, which is open again.
    let reply_to = out.reply_to.clone().expect("a reply address").email;
    let (ok, transcript) = swaks(
        &seva,
        &reply_to,
        &mail(
            "Ravi Kumar <ravi@example.in>",
            &format!("Re: {}", out.subject),
            "",
            "ధన్యవాదాలు, అందుకుంటాను.",
        ),
    );
    assert!(ok, "{transcript}");
    let after = only_conversation(&seva);
    assert_eq!(
        (&after["id"], &after["status"]),
        (&json!(id), &json!("open"))
    );
    let texts: Vec<(String, String)> = messages(&seva, &id)
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().into(),
                m["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(texts[0].0, "outbound");
    assert_eq!(texts[1].0, "inbound");
    assert!(texts[1].1.contains("ధన్యవాదాలు"), "{texts:?}");

    // A request taken on the phone: the customer's words, an owner, and already solved.
    let colleague = {
        let (s, a) = seva.api(
            "POST",
            "/api/v1/agents",
            Some(json!({"email": "maria@test.local", "name": "Maria", "role": "agent"})),
        );
        assert_eq!(s, 201, "{a}");
        a["agent"]["id"].as_str().unwrap().to_string()
    };
    // Nobody is in copy of a conversation that is not email.
    let (s, problem) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({
            "contact": {"email": "juan@example.ph"}, "subject": "S", "text": "T",
            "copy": ["maria@example.ph"],
        })),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("copy")),
        "{problem}"
    );
    let (s, taken) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({
            "contact": {"phone": "+63 917 123 4567", "name": "Juan dela Cruz"},
            "subject": "Nawawalang resibo",
            "text": "Tumawag si Juan: kailangan niya ng kopya ng resibo.",
            "owner_id": colleague,
            "status": "solved",
        })),
    );
    assert_eq!(s, 201, "{taken}");
    assert_eq!(taken["status"], "solved");
    let (_, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{}", taken["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(
        (&c["status"], &c["owner_id"], &c["channel"]),
        (&json!("solved"), &json!(colleague), &json!("api")),
        "{c}"
    );
    assert_eq!(
        relay.mail.lock().unwrap().len(),
        1,
        "nothing mailed for a call"
    );
}

#[test]
fn people_put_in_copy_receive_every_reply_until_taken_out() {
    let seva = Seva::start();
    let relay = Relay::start();
    let inbox = email_inbox(&seva, &relay, json!({}));
    let (s, created) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({
            "contact": {"email": "ravi@example.in"}, "subject": "Invoice 17",
            "text": "Your invoice is attached.", "direction": "outbound", "inbox_id": inbox,
        })),
    );
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    relay.wait_for(1);
    let copy = |body: Value| {
        seva.api(
            "POST",
            &format!("/api/v1/conversations/{id}/copy"),
            Some(body),
        )
    };
    // An address that is not one, the inbox's own, or more than 50 at once: refused, and
    // nothing is added.
    let many: Vec<String> = (0..51).map(|i| format!("p{i}@example.in")).collect();
    for add in [
        json!(["priya@example.in", "not an address"]),
        json!([SUPPORT]),
        json!(many),
    ] {
        let (s, problem) = copy(json!({ "add": add }));
        assert_eq!(
            (s, problem["field"].as_str()),
            (422, Some("add")),
            "{problem}"
        );
    }
    assert_eq!(copy(json!({})).1, json!([]));

    let (s, people) = copy(json!({"add": ["Priya@Example.in"]}));
    assert_eq!(
        (s, people),
        (200, json!([{"email": "priya@example.in", "name": null}]))
    );
    reply(&seva, &id, "Paid, thank you.");
    let sent = relay.wait_for(2);
    let mut to = sent[1].to.clone();
    to.sort();
    assert_eq!(to, ["priya@example.in", "ravi@example.in"]);
    assert!(
        sent[1]
            .header("Cc")
            .is_some_and(|cc| cc.contains("priya@example.in")),
        "{:?}",
        sent[1].header("Cc")
    );

    let (s, people) = copy(json!({"remove": ["priya@example.in"]}));
    assert_eq!((s, people), (200, json!([])));
    reply(&seva, &id, "One more thing.");
    let sent = relay.wait_for(3);
    assert_eq!(sent[2].to, ["ravi@example.in"]);
    assert!(sent[2].header("Cc").is_none());

    // A conversation that is not email has no one in copy.
    let (s, other) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(json!({"contact": {"email": "x@example.in"}, "subject": "API", "text": "hi"})),
    );
    assert_eq!(s, 201, "{other}");
    let (s, problem) = seva.api(
        "POST",
        &format!(
            "/api/v1/conversations/{}/copy",
            other["id"].as_str().unwrap()
        ),
        Some(json!({"add": ["priya@example.in"]})),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("add")),
        "{problem}"
    );
}

#[test]
fn a_customer_with_two_addresses_is_answered_where_they_wrote_from() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    send(
        &seva,
        &mail("Ravi <ravi@example.in>", "Home order", "", "From home."),
    );
    let home = only_conversation(&seva);
    let contact = home["contact_id"].as_str().unwrap().to_string();
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/contacts/{contact}/identities"),
        Some(json!({"kind": "email", "value": "Ravi.Work@Example.in"})),
    );
    assert_eq!(s, 200, "{c}");
    // He writes again from work: the same contact, a new conversation, answered at work.
    send(
        &seva,
        &mail(
            "Ravi <Ravi.Work@example.in>",
            "Work order",
            "",
            "From the office.",
        ),
    );
    let work = conversations(&seva)
        .into_iter()
        .find(|c| c["subject"] == "Work order")
        .expect("the work conversation");
    assert_eq!(work["contact_id"], json!(contact));
    reply(&seva, work["id"].as_str().unwrap(), "Answered at work.");
    reply(&seva, home["id"].as_str().unwrap(), "Answered at home.");
    let sent = relay.wait_for(2);
    let to_of = |text: &str| {
        sent.iter()
            .find(|m| m.parsed().text.contains(text))
            .expect("the answer was sent")
            .to
            .clone()
    };
    assert_eq!(to_of("Answered at work."), ["ravi.work@example.in"]);
    assert_eq!(to_of("Answered at home."), ["ravi@example.in"]);
}

#[test]
fn agents_are_mailed_the_notifications_they_leave_unread_and_nothing_twice() {
    let seva = Seva::start_with("test_clock = true\nnotify_email_after_seconds = 120\n");
    let relay = Relay::start();
    seva.set_now("2026-12-04T09:00:00Z");
    let maria = seva.user("maria@example.com", "agent", "a long test password");
    let nikos = seva.user("nikos@example.com", "agent", "a long test password");
    let eleni = seva.user("eleni@example.com", "agent", "a long test password");
    let id_of = |email: &str| common::agent_id(&seva, email);
    let create = |subject: &str| {
        let (s, c) = seva.api(
            "POST",
            "/api/v1/conversations",
            Some(
                json!({"contact": {"email": "c@example.com"}, "subject": subject, "text": "Help"}),
            ),
        );
        assert_eq!(s, 201, "{c}");
        (
            c["id"].as_str().unwrap().to_string(),
            c["reference"].as_i64().unwrap(),
        )
    };
    let assign = |id: &str, to: &str| {
        let (s, body) = seva.api(
            "POST",
            &format!("/api/v1/conversations/{id}/assign"),
            Some(json!({"owner_id": id_of(to)})),
        );
        assert_eq!(s, 200, "{body}");
    };
    let notifications = |token: &str| {
        let (s, list) = seva.api_as(token, "GET", "/api/v1/notifications?unread=true", None);
        assert_eq!(s, 200, "{list}");
        list.as_array().unwrap().clone()
    };

    // Before any inbox sends notifications, an agent is told so.
    let (s, settings) = seva.api_as(&maria, "GET", "/api/v1/me/notifications", None);
    assert_eq!(s, 200, "{settings}");
    assert_eq!(settings["email"], true);
    assert_eq!(settings["email_sender"], false);
    assert_eq!(settings["email_after_seconds"], 120);
    email_inbox(&seva, &relay, json!({"notify_agents": true}));
    let (_, settings) = seva.api_as(&maria, "GET", "/api/v1/me/notifications", None);
    assert_eq!(settings["email_sender"], true);

    // Given a conversation by someone else: Maria is told; taking one herself tells nobody.
    let (refund, refund_ref) = create("Refund for order 7");
    assign(&refund, "maria@example.com");
    let told = notifications(&maria);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["kind"], "assigned");
    assert_eq!(told[0]["conversation_id"], refund.as_str());
    assert!(
        told[0]["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("#{refund_ref} Refund for order 7")),
        "{told:?}"
    );
    let (own, _) = create("Mine");
    let (s, _) = seva.api_as(
        &maria,
        "POST",
        &format!("/api/v1/conversations/{own}/assign"),
        Some(json!({"owner_id": id_of("maria@example.com")})),
    );
    assert_eq!(s, 200);
    assert_eq!(notifications(&maria).len(), 1);
    // A mention adds a second notification for Maria, and one for Nikos.
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{refund}/messages"),
        Some(json!({"kind": "note", "text": "@maria @nikos the card was charged twice"})),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(notifications(&maria).len(), 2);
    // Nikos turns the mail off; a wrong body is refused and changes nothing.
    let (s, problem) = seva.api_as(
        &nikos,
        "PUT",
        "/api/v1/me/notifications",
        Some(json!({"email": "no"})),
    );
    assert_eq!(s, 422, "{problem}");
    let (s, settings) = seva.api_as(
        &nikos,
        "PUT",
        "/api/v1/me/notifications",
        Some(json!({"email": false})),
    );
    assert_eq!(s, 200, "{settings}");
    assert_eq!(settings["email"], false);
    // Eleni reads hers in time.
    let (other, _) = create("Delivery late");
    assign(&other, "eleni@example.com");
    let hers = notifications(&eleni);
    assert_eq!(hers.len(), 1, "{hers:?}");
    let (s, _) = seva.api_as(
        &eleni,
        "POST",
        &format!(
            "/api/v1/notifications/{}/read",
            hers[0]["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(s, 204);

    // A minute on, nothing is mailed yet.
    seva.set_now("2026-12-04T09:01:00Z");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(relay.count(), 0);
    // Three minutes on, Maria gets one mail with both, in order, each with its link.
    seva.set_now("2026-12-04T09:03:00Z");
    let got = relay.wait_for(1);
    let m = &got[0];
    assert_eq!(m.to, vec!["maria@example.com".to_string()]);
    let parsed = m.parsed();
    assert_eq!(parsed.subject, "2 notifications waiting in Seva");
    assert_eq!(
        m.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(m.header("From").unwrap().contains(common::mail::SUPPORT));
    let text = parsed.text.clone();
    let assigned_at = text.find("Assigned to you: #").expect(&text);
    let mentioned_at = text.find("Mentioned you: #").expect(&text);
    assert!(assigned_at < mentioned_at, "{text}");
    assert!(
        text.contains(&seva.url(&format!("/conversations/{refund}"))),
        "{text}"
    );
    assert!(text.contains(&seva.url("/settings")), "{text}");
    // Nothing more: Nikos takes no mail, Eleni read hers, and Maria's are not sent twice.
    seva.set_now("2026-12-04T09:10:00Z");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(relay.count(), 1, "{:?}", relay.mail.lock().unwrap());

    // One notification alone is mailed under its own words.
    let (late, late_ref) = create("Ο λογαριασμός μου");
    assign(&late, "maria@example.com");
    seva.set_now("2026-12-04T09:13:00Z");
    let got = relay.wait_for(2);
    assert_eq!(
        got[1].parsed().subject,
        format!("Assigned to you: #{late_ref} Ο λογαριασμός μου — Admin")
    );
    // Maria's notification list is what the desk shows: the mailed ones stay unread there.
    assert_eq!(notifications(&maria).len(), 3);

    // Maria is no longer mailed about conversations given to her; mentions still come. A
    // kind Seva does not know is refused, and changes nothing.
    let all = json!([
        "mentions",
        "assignments",
        "followed",
        "transfers",
        "alerts",
        "knowledge"
    ]);
    let (s, settings) = seva.api_as(&maria, "GET", "/api/v1/me/notifications", None);
    assert_eq!((s, &settings["email_kinds"]), (200, &all));
    let (s, problem) = seva.api_as(
        &maria,
        "PUT",
        "/api/v1/me/notifications",
        Some(json!({"email": true, "email_kinds": ["mentions", "gossip"]})),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("email_kinds")),
        "{problem}"
    );
    let (_, settings) = seva.api_as(&maria, "GET", "/api/v1/me/notifications", None);
    assert_eq!(settings["email_kinds"], all);
    let fewer = json!(["mentions", "followed", "transfers", "alerts", "knowledge"]);
    let (s, settings) = seva.api_as(
        &maria,
        "PUT",
        "/api/v1/me/notifications",
        Some(json!({"email": true, "email_kinds": fewer})),
    );
    assert_eq!((s, &settings["email_kinds"]), (200, &fewer), "{settings}");
    let (quiet, quiet_ref) = create("Quiet one");
    assign(&quiet, "maria@example.com");
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{quiet}/messages"),
        Some(json!({"kind": "note", "text": "@maria please look"})),
    );
    assert_eq!(s, 201);
    assert_eq!(notifications(&maria).len(), 5, "both are in the desk");
    seva.set_now("2026-12-04T09:17:00Z");
    let got = relay.wait_for(3);
    let subject = got[2].parsed().subject;
    assert!(
        subject.starts_with(&format!("Mentioned you: #{quiet_ref} Quiet one")),
        "{subject}"
    );
    seva.set_now("2026-12-04T09:25:00Z");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(relay.count(), 3, "the assignment is not mailed");
    let jobs = seva.api("GET", "/api/v1/jobs?state=dead", None).1;
    assert!(
        jobs.to_string().find("notifications.email").is_none(),
        "{jobs}"
    );
}

#[test]
fn an_agent_answers_a_notification_mail_with_a_note_and_nobody_else_can() {
    let seva = Seva::start_with("test_clock = true\nnotify_email_after_seconds = 120\n");
    let relay = Relay::start();
    seva.set_now("2026-12-04T09:00:00Z");
    seva.user("maria@example.com", "agent", "a long test password");
    seva.user("nikos@example.com", "agent", "a long test password");
    email_inbox(&seva, &relay, json!({"notify_agents": true}));
    send(
        &seva,
        &mail(
            "Ana <ana@example.com>",
            "Πού είναι το δέμα μου;",
            "Message-ID: <ana-1@example.com>\r\n",
            "Where is my parcel?",
        ),
    );
    let conversation = only_conversation(&seva);
    let id = conversation["id"].as_str().unwrap().to_string();
    let reference = conversation["reference"].as_i64().unwrap();
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/assign"),
        Some(json!({"owner_id": common::agent_id(&seva, "maria@example.com")})),
    );
    assert_eq!(s, 200, "{body}");
    seva.set_now("2026-12-04T09:03:00Z");
    let notice = relay.wait_for(1).remove(0);
    assert_eq!(notice.to, vec!["maria@example.com".to_string()]);
    let text = notice.parsed().text;
    assert!(
        text.contains(&format!(
            "Reply to this email to add an internal note to #{reference}."
        )),
        "{text}"
    );
    let notice_id = notice.header("Message-ID").unwrap();
    let answer = |from: &str, message_id: &str, in_reply_to: &str| {
        mail(
            from,
            "Re: Assigned to you",
            &format!(
                "Message-ID: <{message_id}>\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
            ),
            "Θα πάρω τηλέφωνο τον κούριερ αύριο.\r\n\r\nOn Fri, Seva Support wrote:\r\n> Assigned to you",
        )
    };
    let notes = || {
        messages(&seva, &id)
            .into_iter()
            .filter(|m| m["kind"] == "note")
            .collect::<Vec<_>>()
    };

    // Maria answers from her mail: her words, without the quote, become her note.
    let hers = answer(
        "Maria <Maria@Example.com>",
        "maria-1@example.com",
        &notice_id,
    );
    let transcript = send(&seva, &hers);
    assert!(
        transcript.contains(&format!("stored as #{reference}")),
        "{transcript}"
    );
    let found = notes();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["text"], "Θα πάρω τηλέφωνο τον κούριερ αύριο.");
    assert_eq!(
        found[0]["author_agent_id"].as_str(),
        Some(common::agent_id(&seva, "maria@example.com").as_str())
    );
    // The same mail delivered again is stored once.
    let transcript = send(&seva, &hers);
    assert!(transcript.contains("already stored"), "{transcript}");
    assert_eq!(notes().len(), 1);
    // Nothing reached the customer, no conversation was opened, nothing was reopened.
    let all = conversations(&seva);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], conversation["status"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(relay.count(), 1, "{:?}", relay.mail.lock().unwrap());

    // The same answer from anyone else's address is refused, and so is a forged token.
    let refused = |raw: &str, why: &str| {
        let (ok, t) = swaks(&seva, SUPPORT, raw);
        assert!(!ok && t.contains("554 5.6.0") && t.contains(why), "{t}");
    };
    refused(
        &answer(
            "Nikos <nikos@example.com>",
            "nikos-1@example.com",
            &notice_id,
        ),
        "not from that agent",
    );
    refused(
        &answer("Ana <ana@example.com>", "ana-2@example.com", &notice_id),
        "not from that agent",
    );
    let (local, domain) = notice_id
        .trim_matches(|c| c == '<' || c == '>')
        .split_once('@')
        .unwrap();
    let (start, token) = local.rsplit_once('.').unwrap();
    // Its first hex digit changed, whatever it was.
    let other = if token.starts_with('0') { '1' } else { '0' };
    let forged = format!("<{start}.{other}{}@{domain}>", &token[1..]);
    assert_ne!(forged, notice_id);
    refused(
        &answer("Maria <maria@example.com>", "maria-2@example.com", &forged),
        "not from that agent",
    );
    // A mail about several notifications names no conversation.
    let digest = format!("<seva.agent.0190-digest@{domain}>");
    refused(
        &answer("Maria <maria@example.com>", "maria-3@example.com", &digest),
        "no single conversation",
    );
    // A disabled agent's answer is refused too.
    seva.cli(&["user", "disable", "maria@example.com"]);
    refused(
        &answer(
            "Maria <maria@example.com>",
            "maria-4@example.com",
            &notice_id,
        ),
        "not from that agent",
    );
    assert_eq!(notes().len(), 1);
    assert_eq!(conversations(&seva).len(), 1);
    let maria = common::agent_id(&seva, "maria@example.com");
    let (_, events) = seva.api("GET", &format!("/api/v1/conversations/{id}/events"), None);
    let by_maria: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == format!("agent:{maria}"))
        .collect();
    assert_eq!(by_maria.len(), 1, "{events}");
    assert_eq!(by_maria[0]["kind"], "message.created");
    assert_eq!(by_maria[0]["data"]["kind"], "note");
}

#[test]
fn an_agent_who_forgot_their_password_chooses_a_new_one_through_a_mailed_link() {
    let seva = Seva::start_with("test_clock = true\n");
    let relay = Relay::start();
    seva.user("maria@example.com", "agent", "the old password 1");
    let http = Seva::agent();
    let read = |res: ureq::http::Response<ureq::Body>| {
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let mut res = res;
        (
            status,
            location,
            res.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    let get = |path: &str| read(http.get(&seva.url(path)).call().unwrap());
    let (cookie, csrf) = common::login_page(&seva, &http);
    let post = |path: &str, fields: &[(&str, &str)]| {
        read(
            http.post(&seva.url(path))
                .header("Cookie", &cookie)
                .send_form(fields.iter().copied())
                .unwrap(),
        )
    };
    let log_in = |password: &str| {
        let (status, _, _) = post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "maria@example.com"),
                ("password", password),
            ],
        );
        status
    };
    // Before any inbox can mail, the page says to ask an admin.
    let (status, _, html) = get("/login/forgot");
    assert_eq!(status, 200);
    assert!(html.contains("Seva cannot mail links yet"), "{html}");
    email_inbox(&seva, &relay, json!({"notify_agents": true}));
    let (_, _, html) = get("/login/forgot");
    assert!(html.contains("name=\"email\""), "{html}");
    // A session Maria has open now ends with the reset.
    let session = common::log_in(&seva, "maria@example.com", "the old password 1");

    // Without the form's token: refused. An unknown address gets the same answer as hers,
    // and no mail.
    assert_eq!(
        post("/login/forgot", &[("email", "maria@example.com")]).0,
        403
    );
    let (status, _, html) = post(
        "/login/forgot",
        &[("csrf", &csrf), ("email", "nobody@example.com")],
    );
    assert_eq!(status, 200);
    assert!(
        html.contains("If nobody@example.com is an agent’s address, a link is on its way"),
        "{html}"
    );
    let (status, _, html) = post(
        "/login/forgot",
        &[("csrf", &csrf), ("email", " Maria@Example.com ")],
    );
    assert_eq!(status, 200);
    assert!(html.contains("If maria@example.com is an agent’s address"));
    let got = relay.wait_for(1);
    assert_eq!(got.len(), 1, "nothing for an unknown address");
    assert_eq!(got[0].to, vec!["maria@example.com".to_string()]);
    let text = got[0].parsed().text;
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/login/reset?token="))
        .expect(&text)
        .to_string();
    let path = link.strip_prefix(&seva.url("")).expect(&link).to_string();
    assert!(!seva.server_log().contains(link.rsplit('=').next().unwrap()));

    // A wrong token, then the real one.
    let (status, _, html) = get("/login/reset?token=0123");
    assert_eq!(status, 410);
    assert!(html.contains("This link is used or expired"));
    let (status, _, html) = get(&path);
    assert_eq!(status, 200);
    let token = common::attribute_after(&html, "name=\"token\" value=\"");
    for (password, again, error) in [
        ("short one", "short one", "at least 10 characters"),
        (
            "the new password 2",
            "the new password 3",
            "The two passwords differ",
        ),
    ] {
        let (status, _, html) = post(
            "/login/reset",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", password),
                ("again", again),
            ],
        );
        assert_eq!(status, 422);
        assert!(html.contains(error), "{html}");
    }
    assert_eq!(log_in("the old password 1"), 303, "nothing changed yet");
    let (status, location, _) = post(
        "/login/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "the new password 2"),
            ("again", "the new password 2"),
        ],
    );
    assert_eq!((status, location.as_deref()), (303, Some("/login?reset=1")));
    let (_, _, html) = get("/login?reset=1");
    assert!(html.contains("Your new password is set"));
    assert_eq!(log_in("the old password 1"), 401);
    assert_eq!(log_in("the new password 2"), 303);
    let res = http
        .get(&seva.url("/inbox"))
        .header("Cookie", &session)
        .call()
        .unwrap();
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        "/login",
        "the session from before the reset ended"
    );
    // Once only.
    assert_eq!(get(&path).0, 410);
    let (status, _, _) = post(
        "/login/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "the third password"),
            ("again", "the third password"),
        ],
    );
    assert_eq!(status, 410);
    assert_eq!(log_in("the new password 2"), 303);

    // A link works for an hour.
    post(
        "/login/forgot",
        &[("csrf", &csrf), ("email", "maria@example.com")],
    );
    let got = relay.wait_for(2);
    let text = got[1].parsed().text;
    let later = text
        .split_whitespace()
        .find(|w| w.contains("/login/reset?token="))
        .unwrap()
        .strip_prefix(&seva.url(""))
        .unwrap()
        .to_string();
    let (s, body) = seva.api(
        "POST",
        "/api/v1/test/clock",
        Some(json!({"now": "2099-01-01T00:00:00Z"})),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(get(&later).0, 410);

    // Asking again and again is stopped, for the address as for the IP.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            post(
                "/login/forgot",
                &[("csrf", &csrf), ("email", "maria@example.com")],
            )
            .0,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[test]
fn a_sender_marked_as_spam_is_kept_but_filed_away_until_let_back() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({"auto_acknowledge": true}));
    let by_subject = |subject: &str| {
        conversations(&seva)
            .into_iter()
            .find(|c| c["subject"] == subject)
            .unwrap_or_else(|| panic!("no conversation {subject}"))
    };
    send(
        &seva,
        &mail(
            "Win Big <prize@lottery.example>",
            "You won",
            "",
            "Claim now",
        ),
    );
    let first = by_subject("You won");
    let id = first["id"].as_str().unwrap().to_string();
    relay.wait_for(1); // the acknowledgement
    // A wrong body changes nothing.
    let (s, problem) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/spam"),
        Some(json!({"spam": "yes"})),
    );
    assert_eq!(
        (s, problem["field"].as_str()),
        (422, Some("spam")),
        "{problem}"
    );
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/spam"),
        Some(json!({"spam": true})),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "solved");
    assert_eq!(c["tags"], json!(["spam"]));
    let contact = c["contact_id"].as_str().unwrap().to_string();
    let (_, who) = seva.api("GET", &format!("/api/v1/contacts/{contact}"), None);
    assert!(who["blocked_at"].is_string(), "{who}");

    // What the blocked sender sends is kept (250), but filed as spam: solved, tagged,
    // unacknowledged, and out of the open views.
    send(
        &seva,
        &mail("prize@lottery.example", "Last chance", "", "Claim now!!"),
    );
    let second = by_subject("Last chance");
    assert_eq!(second["status"], "solved");
    assert_eq!(second["tags"], json!(["spam"]));
    let sid = second["id"].as_str().unwrap();
    assert_eq!(messages(&seva, sid).len(), 1);
    let (_, open) = seva.api("GET", "/api/v1/conversations?status=open", None);
    assert!(
        open["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != sid),
        "{open}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(relay.count(), 1, "no acknowledgement to a blocked sender");

    // Not spam after all: the sender may write again, the first opens again.
    let (s, c) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/spam"),
        Some(json!({"spam": false})),
    );
    assert_eq!(s, 200, "{c}");
    assert_eq!((&c["status"], &c["tags"]), (&json!("open"), &json!([])));
    send(
        &seva,
        &mail(
            "prize@lottery.example",
            "A real question",
            "",
            "Sorry, my son wrote those",
        ),
    );
    assert_eq!(by_subject("A real question")["status"], "open");
    relay.wait_for(2);

    // Blocking from the contact, and what the log keeps.
    let (s, who) = seva.api(
        "PATCH",
        &format!("/api/v1/contacts/{contact}"),
        Some(json!({"blocked": true})),
    );
    assert_eq!(s, 200, "{who}");
    assert!(who["blocked_at"].is_string(), "{who}");
    // (On PostgreSQL the feed serves only events older than every running transaction,
    // other tests' included, so it may lag a moment behind.)
    let until = Instant::now() + Duration::from_secs(20);
    let kinds = loop {
        let (_, feed) = seva.api("GET", "/api/v1/events?after=0&limit=1000", None);
        let kinds: Vec<String> = feed["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .filter(|k| k.starts_with("contact."))
            .map(str::to_string)
            .collect();
        if kinds.len() >= 3 || Instant::now() > until {
            break kinds;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        kinds,
        ["contact.blocked", "contact.unblocked", "contact.blocked"]
    );
}

/// A raw email from `from` with a text and files (name, bytes), threaded after `reply_to`.
fn mail_with_files(
    from: &str,
    cc: &str,
    id: &str,
    reply_to: Option<&str>,
    text: &str,
    files: &[(&str, &[u8])],
) -> String {
    let threading = reply_to
        .map(|r| format!("In-Reply-To: <{r}>\r\nReferences: <{r}>\r\n"))
        .unwrap_or_default();
    let mut raw = format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nCc: {cc}\r\nSubject: Ang printer\r\nMessage-ID: <{id}>\r\n{threading}\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n\
         --sep\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        SUPPORT = common::mail::SUPPORT
    );
    for (name, bytes) in files {
        raw.push_str(&format!(
            "--sep\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            data_encoding::BASE64.encode(bytes)
        ));
    }
    raw.push_str("--sep--\r\n");
    raw
}

/// Where the data folder keeps a file of these bytes (content-addressed).
fn stored_file(seva: &Seva, bytes: &[u8]) -> std::path::PathBuf {
    let sha = sha256_hex(bytes);
    seva.dir
        .join("data")
        .join("attachments")
        .join(&sha[..2])
        .join(&sha[2..])
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_customer_gets_a_copy_of_their_data_and_an_erasure_leaves_nothing_of_them() {
    let seva = Seva::start();
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    let logo: &[u8] = b"the company logo, in both customers' signatures";
    let payslip: &[u8] = b"Boss's payslip: only his";
    // Maria writes with her manager in copy, and he answers in her thread.
    send(
        &seva,
        &mail_with_files(
            "Maria <maria@example.ph>",
            "Boss <boss@example.ph>",
            "m1@example.ph",
            None,
            "Sira ang printer.",
            &[("logo.png", logo)],
        ),
    );
    // An agent follows her conversation, so his answer is quoted to them.
    let agent = seva.user("ravi@seva.test", "agent", "a long enough password 1");
    let maria_conversation = only_conversation(&seva)["id"].as_str().unwrap().to_string();
    let ravi = common::agent_id(&seva, "ravi@seva.test");
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{maria_conversation}/followers"),
        Some(json!({"agent_id": ravi, "follow": true})),
    );
    assert_eq!(s, 200, "{body}");
    send(
        &seva,
        &mail_with_files(
            "Boss <boss@example.ph>",
            "Maria <maria@example.ph>",
            "m2@example.ph",
            Some("m1@example.ph"),
            "Pakiayos agad.",
            &[],
        ),
    );
    let notifications = |token: &str| seva.api_as(token, "GET", "/api/v1/notifications", None).1;
    assert!(notifications(&agent).to_string().contains("Pakiayos agad."));
    // His own request, with his payslip and the same logo, answered and noted by an agent.
    send(
        &seva,
        &mail_with_files(
            "Boss <boss@example.ph>",
            "Jun <jun@example.ph>",
            "b1@example.ph",
            None,
            "Mali ang sahod ko: kulangsahod.",
            &[("payslip.pdf", payslip), ("logo.png", logo)],
        ),
    );
    let list = conversations(&seva);
    assert_eq!(list.len(), 2, "{list:#?}");
    let boss_conversation = list
        .iter()
        .find(|c| c["id"] != maria_conversation.as_str())
        .unwrap();
    let boss_conversation = boss_conversation["id"].as_str().unwrap().to_string();
    let boss = contact_of(&seva, &boss_conversation);
    reply(&seva, &boss_conversation, "Titingnan namin ang sahod mo.");
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{boss_conversation}/messages"),
        Some(json!({"text": "Ipasa sa payroll.", "kind": "note"})),
    );
    assert_eq!(s, 201);
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{boss_conversation}/tags"),
        Some(json!({"add": ["payroll"]})),
    );
    assert_eq!(s, 200);
    common::search_until(
        &seva,
        "/api/v1/search?q=kulangsahod&kind=messages",
        |hits| hits.len() == 1,
    );
    assert!(stored_file(&seva, payslip).exists() && stored_file(&seva, logo).exists());

    // Agents and supervisors may do neither.
    let supervisor = seva.user("lena@seva.test", "supervisor", "a long enough password 2");
    for token in [&agent, &supervisor] {
        let (s, body) = seva.api_as(
            token,
            "GET",
            &format!("/api/v1/contacts/{boss}/export"),
            None,
        );
        assert_eq!(s, 403, "{body}");
        let (s, body) = seva.api_as(token, "DELETE", &format!("/api/v1/contacts/{boss}"), None);
        assert_eq!(s, 403, "{body}");
    }

    // The copy: his details, his conversation with every message (the note marked), his
    // files described, and what he wrote in Maria's conversation.
    let (s, export) = seva.api("GET", &format!("/api/v1/contacts/{boss}/export"), None);
    assert_eq!(s, 200, "{export}");
    assert_eq!(export["contact"]["name"], "Boss");
    assert_eq!(
        export["contact"]["identities"][0]["value"],
        "boss@example.ph"
    );
    let conversations_out = export["conversations"].as_array().unwrap();
    assert_eq!(conversations_out.len(), 1, "{export:#}");
    let kinds: Vec<&str> = conversations_out[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["inbound", "outbound", "note"], "{export:#}");
    let first = &conversations_out[0]["messages"][0];
    assert_eq!(first["from"], "customer");
    let mut files: Vec<&str> = first["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, vec!["logo.png", "payslip.pdf"]);
    assert_eq!(export["written_elsewhere"][0]["text"], "Pakiayos agad.");
    assert_eq!(
        export["written_elsewhere"][0]["conversation_id"],
        maria_conversation.as_str()
    );
    // An id that is none names the field.
    let (s, body) = seva.api("GET", "/api/v1/contacts/nonsense/export", None);
    assert_eq!((s, body["field"].as_str()), (404, Some("id")), "{body}");

    // On SQLite, once the checkpoint has copied his words into the database file, the
    // erasure overwrites them there (not only unlinks them from its b-trees).
    common::wait_for_database_file(&seva, &["kulangsahod"], true);

    // A duplicate of him, merged into him: erased with him, never on its own.
    let (s, dup) = seva.api(
        "POST",
        "/api/v1/contacts",
        Some(json!({"name": "B. Oss", "email": "b.oss@example.ph"})),
    );
    assert_eq!(s, 201, "{dup}");
    let dup = dup["id"].as_str().unwrap().to_string();
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/contacts/{dup}/merge"),
        Some(json!({"into": boss})),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = seva.api("DELETE", &format!("/api/v1/contacts/{dup}"), None);
    assert_eq!(
        (s, body["field"].as_str()),
        (422, Some("contact")),
        "{body}"
    );

    // The erasure.
    let (s, erased) = seva.api("DELETE", &format!("/api/v1/contacts/{boss}"), None);
    assert_eq!(s, 200, "{erased}");
    assert_eq!(erased["contacts"], 2);
    assert_eq!(erased["conversations"], 1);
    assert_eq!(erased["messages"], 3);
    assert_eq!(erased["emptied_messages"], 1);
    assert_eq!(erased["attachments"], 2);
    let (s, _) = seva.api("DELETE", &format!("/api/v1/contacts/{boss}"), None);
    assert_eq!(s, 404, "erased once, then there is nothing to erase");
    for contact in [&boss, &dup] {
        let (s, _) = seva.api("GET", &format!("/api/v1/contacts/{contact}"), None);
        assert_eq!(s, 404);
    }
    let (s, _) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{boss_conversation}"),
        None,
    );
    assert_eq!(s, 404);
    // Maria's conversation keeps its shape: his message is there, empty, and he is no
    // longer in copy.
    let ms = messages(&seva, &maria_conversation);
    assert_eq!(ms.len(), 2, "{ms:#?}");
    assert_eq!(ms[1]["text"], "");
    assert_eq!(ms[1]["author_contact_id"], Value::Null);
    assert!(ms[1]["redacted_at"].is_string(), "{ms:#?}");
    assert_eq!(ms[1]["email"], Value::Null);
    let (s, copy) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{maria_conversation}/copy"),
        Some(json!({})),
    );
    assert_eq!(s, 200, "{copy}");
    assert!(!copy.to_string().contains("boss@example.ph"), "{copy}");
    // His payslip leaves the disk; the logo stays, Maria's message has it too.
    wait_until("the payslip's file to be removed", || {
        !stored_file(&seva, payslip).exists()
    });
    assert!(stored_file(&seva, logo).exists());
    common::wait_for_database_file(&seva, &["kulangsahod", "Pakiayos"], false);
    // The search index forgets him.
    common::search_until(
        &seva,
        "/api/v1/search?q=kulangsahod&kind=messages",
        |hits| hits.is_empty(),
    );
    // Nothing the API can read still names him: not the event feed, not the audit log,
    // not Maria's conversation. The audit log says who erased a contact, and how much.
    let (s, audit) = seva.api("GET", "/api/v1/audit?area=contact", None);
    assert_eq!(s, 200);
    let entry = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "contact.erased")
        .cloned()
        .unwrap_or_else(|| panic!("{audit:#}"));
    assert_eq!(
        entry["actor"],
        format!("agent:{}", common::agent_id(&seva, common::ADMIN))
    );
    assert_eq!(
        entry["data"]["conversations"][0],
        boss_conversation.as_str()
    );
    let (_, feed) = seva.api("GET", "/api/v1/events?after=0&limit=1000", None);
    let (_, maria_events) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{maria_conversation}/events"),
        None,
    );
    let (_, contacts) = seva.api("GET", "/api/v1/contacts?q=boss", None);
    let quoted = notifications(&agent);
    for text in [
        feed.to_string(),
        audit.to_string(),
        maria_events.to_string(),
        contacts.to_string(),
        quoted.to_string(),
        serde_json::to_string(&ms).unwrap(),
    ] {
        for him in [
            "boss@example.ph",
            "Boss",
            "B. Oss",
            "b.oss@",
            "kulangsahod",
            "Pakiayos",
        ] {
            assert!(!text.contains(him), "{him} is still in {text}");
        }
    }

    // Maria, by the command line: no erasure without --yes; then the logo goes too.
    assert_ne!(
        seva.cli_exit(&["contact", "erase", "maria@example.ph"], b""),
        0
    );
    let copy: Value =
        serde_json::from_str(&seva.cli(&["contact", "export", "maria@example.ph"])).unwrap();
    assert_eq!(
        copy["conversations"][0]["messages"][0]["text"],
        "Sira ang printer."
    );
    seva.cli(&["contact", "erase", "maria@example.ph", "--yes"]);
    wait_until("the logo's file to be removed", || {
        !stored_file(&seva, logo).exists()
    });
    assert!(conversations(&seva).is_empty());
}

#[test]
fn closed_conversations_are_deleted_with_their_files_once_the_retention_period_has_passed() {
    let seva = Seva::start_with(
        "test_clock = true\nclose_solved_after_days = 0\ndelete_closed_after_days = 30\n",
    );
    let relay = Relay::start();
    email_inbox(&seva, &relay, json!({}));
    let receipt: &[u8] = b"an old receipt, kept as long as its conversation";
    let status = |id: &str, to: &str| common::set_status(&seva, id, to);
    // Eleni's old request, with a file, answered and closed on 1 January; her newer one
    // closed on 10 January; Jun's, still open since 1 January.
    seva.set_now("2026-01-01T09:00:00Z");
    send(
        &seva,
        &mail_with_files(
            "Eleni <eleni@example.gr>",
            "Jun <jun@example.ph>",
            "old@example.gr",
            None,
            "Η απόδειξη της παλιάς παραγγελίας: παλιόχαρτο.",
            &[("receipt.pdf", receipt)],
        ),
    );
    let old = only_conversation(&seva)["id"].as_str().unwrap().to_string();
    let eleni = contact_of(&seva, &old);
    reply(&seva, &old, "Ευχαριστούμε, τη λάβαμε.");
    status(&old, "solved");
    status(&old, "closed");
    let open = common::create(
        &seva,
        json!({"contact": {"email": "jun@example.ph"}, "subject": "Resibo", "text": "Nasaan ang resibo?"}),
    );
    seva.set_now("2026-01-10T09:00:00Z");
    let newer = common::create(
        &seva,
        json!({"contact": {"email": "eleni@example.gr"}, "subject": "Νέα παραγγελία", "text": "Πότε έρχεται;"}),
    );
    status(&newer, "solved");
    status(&newer, "closed");
    common::search_until(
        &seva,
        "/api/v1/search?q=παλιόχαρτο&kind=messages",
        |hits| hits.len() == 1,
    );
    common::wait_for_database_file(&seva, &["παλιόχαρτο"], true);
    assert!(stored_file(&seva, receipt).exists());

    // A minute short of thirty days after it was closed, nothing goes.
    seva.set_now("2026-01-31T08:59:00Z");
    std::thread::sleep(Duration::from_millis(1500));
    let (s, _) = seva.api("GET", &format!("/api/v1/conversations/{old}"), None);
    assert_eq!(s, 200);
    // Thirty days after, the old conversation goes, with its messages, file and history;
    // Eleni stays, with her newer conversation, and Jun's open one stays.
    seva.set_now("2026-01-31T09:01:00Z");
    wait_until("the old conversation to be deleted", || {
        seva.api("GET", &format!("/api/v1/conversations/{old}"), None)
            .0
            == 404
    });
    for id in [&newer, &open] {
        let (s, c) = seva.api("GET", &format!("/api/v1/conversations/{id}"), None);
        assert_eq!(s, 200, "{c}");
    }
    let (s, _) = seva.api("GET", &format!("/api/v1/contacts/{eleni}"), None);
    assert_eq!(s, 200);
    let (s, _) = seva.api("GET", &format!("/api/v1/conversations/{old}/events"), None);
    assert_eq!(s, 404);
    wait_until("the receipt's file to be removed", || {
        !stored_file(&seva, receipt).exists()
    });
    common::search_until(
        &seva,
        "/api/v1/search?q=παλιόχαρτο&kind=messages",
        |hits| hits.is_empty(),
    );
    common::wait_for_database_file(&seva, &["παλιόχαρτο"], false);
    // One event names what went, and nothing of its words; the feed keeps no other
    // event of it.
    let (_, feed) = seva.api("GET", "/api/v1/events?after=0&limit=1000", None);
    let events = feed["data"].as_array().unwrap_or_else(|| panic!("{feed}"));
    let deleted: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "conversations.deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "{feed:#}");
    assert_eq!(deleted[0]["actor"], "system:retention");
    assert_eq!(deleted[0]["data"]["conversations"], json!([old]));
    assert_eq!(deleted[0]["data"]["messages"].as_array().unwrap().len(), 2);
    assert_eq!(deleted[0]["data"]["attachments"], 1);
    assert!(
        !events.iter().any(|e| e["conversation_id"] == old.as_str()),
        "{feed:#}"
    );
    assert!(!feed.to_string().contains("παλιόχαρτο"), "{feed}");

    // Ten days later the newer one follows; the open one never does.
    seva.set_now("2026-02-09T09:01:00Z");
    wait_until("the newer conversation to be deleted", || {
        seva.api("GET", &format!("/api/v1/conversations/{newer}"), None)
            .0
            == 404
    });
    let (s, _) = seva.api("GET", &format!("/api/v1/conversations/{open}"), None);
    assert_eq!(s, 200);
}

/// The contact a conversation is with.
fn contact_of(seva: &Seva, conversation: &str) -> String {
    let (s, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}"),
        None,
    );
    assert_eq!(s, 200, "{c}");
    c["contact_id"].as_str().unwrap().to_string()
}
