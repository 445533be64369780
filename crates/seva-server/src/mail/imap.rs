//! IMAP polling: for each email inbox with an IMAP account, a task keeps a connection to
//! the mailbox, fetches every message with a UID above the last one stored, hands each to
//! [`super::receive`], and records the UID only after the message is stored. A restart
//! therefore neither skips a message nor stores one twice (a message fetched again after a
//! crash is recognised by its Message-ID). The mailbox is opened read-only (EXAMINE,
//! BODY.PEEK): Seva never changes the customer-facing mailbox. Where the server offers
//! IDLE, new mail arrives within seconds; otherwise the folder is polled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use seva_core::InboxId;
use seva_store::inboxes::Inbox;
use seva_store::{email, inboxes, op};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::{EmailSettings, ImapAccount, InboxSecrets, Security};
use crate::Shared;

/// The longest message fetched (larger ones are skipped with a log line, not retried).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Watches the inboxes and keeps one poller running for each IMAP account.
pub async fn supervise(state: Shared) {
    let mut running: HashMap<InboxId, (String, tokio::task::JoinHandle<()>)> = HashMap::new();
    loop {
        match state.store.read(op!(c => inboxes::list(c).await)).await {
            Ok(list) => {
                let mut wanted = HashMap::new();
                for inbox in list {
                    if let Some(account) = EmailSettings::of(&inbox).imap {
                        // Restart a poller whose account changed.
                        let key = format!("{account:?}{:?}", inbox.secrets);
                        wanted.insert(inbox.id, (key, inbox, account));
                    }
                }
                running.retain(|id, (key, task)| {
                    let keep =
                        wanted.get(id).is_some_and(|(k, _, _)| k == key) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for (id, (key, inbox, account)) in wanted {
                    running.entry(id).or_insert_with(|| {
                        (
                            key,
                            tokio::spawn(poll_forever(state.clone(), inbox, account)),
                        )
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list inboxes for IMAP"),
        }
        tokio::time::sleep(Duration::from_secs(state.config.imap_rescan_seconds)).await;
    }
}

async fn poll_forever(state: Shared, inbox: Inbox, account: ImapAccount) {
    let password = InboxSecrets::of(&state, &inbox)
        .imap_password
        .unwrap_or_default();
    let mut backoff = 5;
    loop {
        match session(&state, &inbox, &account, &password).await {
            Ok(()) => backoff = 5,
            Err(e) => {
                tracing::warn!(inbox = %inbox.name, host = %account.host, error = %e, "IMAP polling failed; retrying");
                tokio::time::sleep(Duration::from_secs(backoff)).await;
                backoff = (backoff * 2).min(300);
            }
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(account: &ImapAccount) -> Result<Box<dyn Stream>, Error> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((account.host.as_str(), account.port)),
    )
    .await??;
    match account.security {
        Security::None => Ok(Box::new(tcp)),
        Security::Tls => Ok(Box::new(tls(account, tcp).await?)),
        Security::Starttls => {
            let mut c = Client::new(Box::new(tcp) as Box<dyn Stream>);
            c.greeting().await?;
            c.command("STARTTLS").await?;
            let tcp = c.into_inner();
            Ok(Box::new(tls(account, tcp).await?))
        }
    }
}

async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
    account: &ImapAccount,
    s: S,
) -> Result<tokio_rustls::client::TlsStream<S>, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &account.ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert?)?;
        }
    }
    let host = &account.host;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, s)
        .await?)
}

/// One connection's life: log in, open the folder, fetch what is new, wait, repeat.
async fn session(
    state: &Shared,
    inbox: &Inbox,
    account: &ImapAccount,
    password: &str,
) -> Result<(), Error> {
    let stream = connect(account).await?;
    let mut c = Client::new(stream);
    if account.security != Security::Starttls {
        c.greeting().await?;
    }
    c.command(&format!(
        "LOGIN {} {}",
        quote(&account.username),
        quote(password)
    ))
    .await
    .map_err(|e| format!("login as {} refused: {e}", account.username))?;
    let caps = c.command("CAPABILITY").await?;
    let idle = caps
        .iter()
        .any(|l| l.text.to_ascii_uppercase().contains(" IDLE"));
    let poll = Duration::from_secs(account.poll_seconds.unwrap_or(60).max(5));
    loop {
        let lines = c
            .command(&format!("EXAMINE {}", quote(&account.folder)))
            .await?;
        let validity = lines
            .iter()
            .find_map(|l| number_after(&l.text, "[UIDVALIDITY "))
            .ok_or("the server sent no UIDVALIDITY")?;
        let id = inbox.id;
        let last = match state
            .store
            .read(op!(c => email::imap_cursor(c, id).await))
            .await?
        {
            Some((v, uid)) if v == validity => uid,
            // A new folder, or one whose UIDs were reset: read it all again (what was
            // stored before is recognised and not stored twice).
            _ => 0,
        };
        fetch_new(state, inbox, &mut c, validity, last).await?;
        if idle {
            // IDLE is renewed every poll interval, not only every minute or more: a
            // message that lands between the search above and the IDLE command may not
            // be announced by every server, and the next search must then come soon.
            c.idle(poll.min(Duration::from_secs(25 * 60))).await?;
        } else {
            c.command("CLOSE").await.ok();
            tokio::time::sleep(poll).await;
        }
    }
}

async fn fetch_new(
    state: &Shared,
    inbox: &Inbox,
    c: &mut Client,
    validity: i64,
    last: i64,
) -> Result<(), Error> {
    let found = c.command(&format!("UID SEARCH UID {}:*", last + 1)).await?;
    let mut uids: Vec<i64> = found
        .iter()
        .filter(|l| l.text.to_ascii_uppercase().starts_with("* SEARCH"))
        .flat_map(|l| {
            l.text[8..]
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect::<Vec<i64>>()
        })
        .filter(|uid| *uid > last)
        .collect();
    uids.sort_unstable();
    for uid in uids {
        let lines = c
            .command(&format!("UID FETCH {uid} (UID BODY.PEEK[])"))
            .await?;
        let Some(raw) = lines.into_iter().find_map(|l| l.literal) else {
            tracing::warn!(inbox = %inbox.name, uid, "the server sent no body for a message");
            continue;
        };
        let recipients: Vec<String> = inbox.address.clone().into_iter().collect();
        match super::receive(state, inbox, &recipients, raw).await {
            Ok(_) => {}
            Err(super::ReceiveError::Rejected(why)) => {
                tracing::warn!(inbox = %inbox.name, uid, %why, "skipped a message that cannot be read")
            }
            // Not recorded: the next round fetches it again.
            Err(super::ReceiveError::Temporary(why)) => return Err(why.into()),
        }
        let id = inbox.id;
        state
            .store
            .write(op!(c => email::set_imap_cursor(c, id, validity, uid).await))
            .await?;
    }
    Ok(())
}

fn number_after(text: &str, marker: &str) -> Option<i64> {
    let at = text.to_ascii_uppercase().find(marker)? + marker.len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// An IMAP quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One response line, with the literal it carried (a message body), if any.
struct Line {
    text: String,
    literal: Option<Vec<u8>>,
}

struct Client {
    io: BufReader<Box<dyn Stream>>,
    tag: u32,
}

impl Client {
    fn new(stream: Box<dyn Stream>) -> Self {
        Self {
            io: BufReader::new(stream),
            tag: 0,
        }
    }

    fn into_inner(self) -> Box<dyn Stream> {
        self.io.into_inner()
    }

    async fn greeting(&mut self) -> Result<(), Error> {
        let l = self.line().await?;
        if l.text.starts_with("* OK") || l.text.starts_with("* PREAUTH") {
            Ok(())
        } else {
            Err(format!("unexpected greeting: {}", l.text).into())
        }
    }

    /// Reads one response line, with any literal `{n}` it announces.
    async fn line(&mut self) -> Result<Line, Error> {
        let mut text = Vec::new();
        let mut literal = None;
        loop {
            let mut part = Vec::new();
            let n = tokio::time::timeout(
                Duration::from_secs(30 * 60),
                self.io.read_until(b'\n', &mut part),
            )
            .await??;
            if n == 0 {
                return Err("the IMAP server closed the connection".into());
            }
            let trimmed = part
                .strip_suffix(b"\r\n")
                .or(part.strip_suffix(b"\n"))
                .unwrap_or(&part);
            text.extend_from_slice(trimmed);
            let announced = trimmed
                .strip_suffix(b"}")
                .and_then(|t| t.iter().rposition(|b| *b == b'{').map(|i| &t[i + 1..]))
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
            match announced {
                Some(size) if size <= MAX_MESSAGE => {
                    let mut bytes = vec![0; size];
                    self.io.read_exact(&mut bytes).await?;
                    literal = Some(bytes);
                }
                Some(size) => return Err(format!("a message of {size} bytes is too large").into()),
                None => {
                    return Ok(Line {
                        text: String::from_utf8_lossy(&text).into_owned(),
                        literal,
                    });
                }
            }
        }
    }

    /// Sends a command and reads up to its tagged answer, which must be OK.
    async fn command(&mut self, command: &str) -> Result<Vec<Line>, Error> {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.io
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        self.io.get_mut().flush().await?;
        let mut lines = Vec::new();
        loop {
            let l = self.line().await?;
            if let Some(rest) = l.text.strip_prefix(&format!("{tag} ")) {
                return if rest.to_ascii_uppercase().starts_with("OK") {
                    Ok(lines)
                } else {
                    Err(rest.to_string().into())
                };
            }
            lines.push(l);
        }
    }

    /// IDLE until the server reports new mail or `limit` passes.
    async fn idle(&mut self, limit: Duration) -> Result<(), Error> {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.io
            .get_mut()
            .write_all(format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        self.io.get_mut().flush().await?;
        let first = self.line().await?;
        if !first.text.starts_with('+') {
            return Err(format!("IDLE refused: {}", first.text).into());
        }
        let deadline = tokio::time::Instant::now() + limit;
        while let Ok(l) = tokio::time::timeout_at(deadline, self.line()).await {
            if l?.text.to_ascii_uppercase().contains("EXISTS") {
                break;
            }
        }
        self.io.get_mut().write_all(b"DONE\r\n").await?;
        self.io.get_mut().flush().await?;
        loop {
            let l = self.line().await?;
            if l.text.starts_with(&format!("{tag} ")) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_and_numbers_found() {
        assert_eq!(quote(r#"pa"ss\word"#), r#""pa\"ss\\word""#);
        assert_eq!(
            number_after("* OK [UIDVALIDITY 1700] ok", "[UIDVALIDITY "),
            Some(1700)
        );
    }
}
