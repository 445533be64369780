//! A chat visitor's side of the protocol, over a real WebSocket.

use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::Seva;

pub type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

pub fn chat_inbox(seva: &Seva, name: &str, team: Option<&str>) -> String {
    let (s, body) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": name, "channel": "chat", "team_id": team,
                    "settings": {"allowed_origins": ["http://shop.test"], "greeting": {"en": "Hello!"}}})),
    );
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

pub fn connect_from(
    seva: &Seva,
    inbox: &str,
    origin: Option<&str>,
) -> Result<Socket, tungstenite::Error> {
    connect_with(seva, inbox, origin, None)
}

/// A session as an agent's program opens one: with its API token.
pub fn connect_as_agent(seva: &Seva, inbox: &str, origin: Option<&str>) -> Socket {
    connect_with(seva, inbox, origin, Some(&seva.token)).expect("connect")
}

fn connect_with(
    seva: &Seva,
    inbox: &str,
    origin: Option<&str>,
    token: Option<&str>,
) -> Result<Socket, tungstenite::Error> {
    let url = seva
        .url(&format!("/chat/v1/ws?inbox={inbox}"))
        .replacen("http", "ws", 1);
    let mut request = url.into_client_request().unwrap();
    if let Some(o) = origin {
        request.headers_mut().insert("origin", o.parse().unwrap());
    }
    if let Some(t) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let (socket, _) = tungstenite::connect(request)?;
    if let MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    Ok(socket)
}

pub fn connect(seva: &Seva, inbox: &str) -> Socket {
    connect_from(seva, inbox, Some("http://shop.test")).expect("connect")
}

pub fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// The next JSON frame (pings are answered by the library). A read interrupted by a
/// signal (the servers this test process starts and stops send it SIGCHLD) is tried again.
pub fn next(ws: &mut Socket) -> Value {
    loop {
        let frame = match ws.read() {
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                continue;
            }
            other => other.expect("a frame"),
        };
        match frame {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(c) => {
                return json!({"type": "closed", "code": c.map(|c| u16::from(c.code))});
            }
            _ => continue,
        }
    }
}

/// Frames until one of `kind` comes; returns them all, that one last.
pub fn until(ws: &mut Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let f = next(ws);
        let done = f["type"] == kind;
        seen.push(f);
        if done {
            return seen;
        }
    }
}

/// Says hello; returns the welcome.
pub fn hello(ws: &mut Socket, token: Option<&str>, after: i64) -> Value {
    send(
        ws,
        json!({"type": "hello", "v": 1, "token": token, "name": "Ravi", "after": after}),
    );
    let welcome = next(ws);
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    welcome
}

pub fn say(ws: &mut Socket, client_id: &str, text: &str) -> Value {
    send(
        ws,
        json!({"type": "message", "client_id": client_id, "text": text}),
    );
    let frames = until(ws, "ack");
    frames.last().unwrap().clone()
}

pub fn conversation_of(seva: &Seva, text: &str) -> String {
    let (_, list) = seva.api("GET", "/api/v1/conversations?limit=100", None);
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "chat" && c["subject"].as_str().unwrap().contains(text))
        .unwrap_or_else(|| panic!("no chat about {text}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn answer(seva: &Seva, conversation: &str, text: &str) {
    let (s, body) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(json!({"kind": "reply", "text": text})),
    );
    assert_eq!(s, 201, "{body}");
}
