//! The SMTP listener inside `seva serve`: mail for our inboxes' addresses (and their
//! `+detail` reply addresses) is accepted, anything else is refused at RCPT, so it is not
//! an open relay. A message is answered `250` only once it is stored: after the
//! transaction holding it has committed and its files are on disk.
//!
//! ESMTP with SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES, and STARTTLS when
//! a certificate is configured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::{Outcome, ReceiveError};
use crate::Shared;

/// The longest command line we read (RFC 5321 says 512; extensions add a little).
const MAX_COMMAND: usize = 2048;
/// Recipients per message.
const MAX_RECIPIENTS: usize = 100;
/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(300);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 512;

/// Loads the certificate and key for STARTTLS.
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("the certificate and key do not make a TLS configuration: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves SMTP on `listener` until the process ends.
pub async fn serve(state: Shared, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "SMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut session = Session::new(state, peer, tls.is_some());
            match session.run(stream).await {
                Ok(Some(plain)) => {
                    // STARTTLS: the same conversation continues, encrypted, from the start.
                    if let Some(acceptor) = tls {
                        match acceptor.accept(plain).await {
                            Ok(secure) => {
                                session.reset_for_tls();
                                if let Err(e) = session.run(secure).await {
                                    tracing::debug!(%peer, error = %e, "SMTP session ended");
                                }
                            }
                            Err(e) => {
                                tracing::info!(%peer, error = %e, "STARTTLS handshake failed")
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(%peer, error = %e, "SMTP session ended"),
            }
            drop(permit);
        });
    }
}

struct Session {
    state: Shared,
    peer: SocketAddr,
    can_tls: bool,
    secure: bool,
    greeted: bool,
    mail_from: Option<String>,
    recipients: Vec<String>,
    inbox: Option<seva_store::inboxes::Inbox>,
}

type Io = std::io::Result<()>;

impl Session {
    fn new(state: Shared, peer: SocketAddr, can_tls: bool) -> Self {
        Self {
            state,
            peer,
            can_tls,
            secure: false,
            greeted: false,
            mail_from: None,
            recipients: Vec::new(),
            inbox: None,
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
        self.inbox = None;
    }

    fn reset_for_tls(&mut self) {
        self.reset();
        self.secure = true;
        self.greeted = false;
    }

    fn hostname(&self) -> &str {
        &self.state.config.smtp_hostname
    }

    /// Runs the conversation. Returns the stream when the client asked for STARTTLS.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: S,
    ) -> std::io::Result<Option<S>> {
        let mut io = BufReader::new(stream);
        if !self.secure {
            let hello = format!("220 {} Seva ESMTP ready\r\n", self.hostname());
            io.get_mut().write_all(hello.as_bytes()).await?;
        }
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            let n = read_line(&mut io, &mut line, MAX_COMMAND).await?;
            if n == 0 {
                return Ok(None);
            }
            if !line.ends_with(b"\n") {
                reply(&mut io, "500 5.5.2 line too long").await?;
                return Ok(None);
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
            let verb = verb.to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => {
                    self.greeted = true;
                    self.reset();
                    let mut lines = vec![
                        format!("250-{} greets {}", self.hostname(), rest.trim()),
                        format!("250-SIZE {}", self.state.config.smtp_max_bytes),
                        "250-8BITMIME".into(),
                        "250-SMTPUTF8".into(),
                        "250-PIPELINING".into(),
                    ];
                    if self.can_tls && !self.secure {
                        lines.push("250-STARTTLS".into());
                    }
                    lines.push("250 ENHANCEDSTATUSCODES".into());
                    io.get_mut()
                        .write_all(format!("{}\r\n", lines.join("\r\n")).as_bytes())
                        .await?;
                }
                "HELO" => {
                    self.greeted = true;
                    self.reset();
                    reply(&mut io, &format!("250 {}", self.hostname())).await?;
                }
                "STARTTLS" if self.can_tls && !self.secure => {
                    reply(&mut io, "220 2.0.0 ready to start TLS").await?;
                    return Ok(Some(io.into_inner()));
                }
                "MAIL" => self.mail(&mut io, rest).await?,
                "RCPT" => self.rcpt(&mut io, rest).await?,
                "DATA" => self.data(&mut io).await?,
                "RSET" => {
                    self.reset();
                    reply(&mut io, "250 2.0.0 reset").await?;
                }
                "NOOP" => reply(&mut io, "250 2.0.0 ok").await?,
                "VRFY" => reply(&mut io, "252 2.5.0 cannot verify, send and see").await?,
                "QUIT" => {
                    reply(&mut io, "221 2.0.0 bye").await?;
                    return Ok(None);
                }
                "BDAT" => reply(&mut io, "502 5.5.1 CHUNKING is not offered").await?,
                _ => reply(&mut io, "500 5.5.2 command not recognised").await?,
            }
        }
    }

    async fn mail<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        rest: &str,
    ) -> Io {
        if !self.greeted {
            return reply(io, "503 5.5.1 say EHLO first").await;
        }
        if self.mail_from.is_some() {
            return reply(io, "503 5.5.1 one sender per message; RSET first").await;
        }
        let Some(path) = path_after(rest, "FROM:") else {
            return reply(io, "501 5.5.4 syntax: MAIL FROM:<address>").await;
        };
        let declared = rest
            .split_whitespace()
            .filter_map(|p| {
                p.to_ascii_uppercase()
                    .strip_prefix("SIZE=")?
                    .parse::<usize>()
                    .ok()
            })
            .next();
        if declared.is_some_and(|n| n > self.state.config.smtp_max_bytes) {
            return reply(io, "552 5.3.4 message size exceeds the fixed limit").await;
        }
        self.mail_from = Some(path);
        reply(io, "250 2.1.0 sender ok").await
    }

    async fn rcpt<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        rest: &str,
    ) -> Io {
        if self.mail_from.is_none() {
            return reply(io, "503 5.5.1 MAIL first").await;
        }
        let Some(address) = path_after(rest, "TO:") else {
            return reply(io, "501 5.5.4 syntax: RCPT TO:<address>").await;
        };
        if self.recipients.len() >= MAX_RECIPIENTS {
            return reply(io, "452 4.5.3 too many recipients").await;
        }
        let base = seva_mail::thread::read_address(&address).base;
        let found = self
            .state
            .store
            .read(seva_store::op!(c => seva_store::inboxes::by_address(c, &base).await))
            .await;
        match found {
            Ok(Some(inbox)) => {
                // A message to two of our inboxes is stored once, in the first.
                if self.inbox.is_none() {
                    self.inbox = Some(inbox);
                }
                self.recipients.push(address);
                reply(io, "250 2.1.5 recipient ok").await
            }
            Ok(None) => {
                tracing::info!(peer = %self.peer, rcpt = %address, "refused mail for an unknown address");
                reply(io, "550 5.1.1 no such mailbox here (this is not a relay)").await
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a recipient");
                reply(io, "451 4.3.0 try again later").await
            }
        }
    }

    async fn data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut BufReader<S>) -> Io {
        let Some(inbox) = self.inbox.clone().filter(|_| !self.recipients.is_empty()) else {
            return reply(io, "503 5.5.1 no valid recipients").await;
        };
        reply(io, "354 end data with <CR><LF>.<CR><LF>").await?;
        let max = self.state.config.smtp_max_bytes;
        let mut message = Vec::with_capacity(16 * 1024);
        let mut too_big = false;
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            // Lines are read whole however long: a long line is not the end of the message.
            let n = read_line(io, &mut line, usize::MAX).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            if too_big {
                continue;
            }
            let body: &[u8] = if line.starts_with(b"..") {
                &line[1..]
            } else {
                &line
            };
            if message.len() + body.len() > max {
                // Keep reading to the end so the client hears our answer, but keep nothing.
                too_big = true;
                message = Vec::new();
                continue;
            }
            message.extend_from_slice(body);
        }
        let recipients = std::mem::take(&mut self.recipients);
        self.reset();
        if too_big {
            return reply(io, "552 5.3.4 message size exceeds the fixed limit").await;
        }
        match super::receive(&self.state, &inbox, &recipients, message).await {
            Ok(Outcome::Stored {
                reference,
                duplicate,
                ..
            }) => {
                let what = if duplicate {
                    "already stored"
                } else {
                    "stored"
                };
                reply(io, &format!("250 2.0.0 {what} as #{reference}")).await
            }
            Ok(Outcome::Bounce) => reply(io, "250 2.0.0 bounce recorded").await,
            Ok(Outcome::OwnMail) => reply(io, "250 2.0.0 our own mail, dropped").await,
            Err(ReceiveError::Rejected(why)) => {
                tracing::info!(peer = %self.peer, %why, "rejected a message");
                reply(io, &format!("554 5.6.0 {}", one_line(&why))).await
            }
            Err(ReceiveError::Temporary(why)) => {
                tracing::error!(peer = %self.peer, %why, "could not store a message");
                reply(
                    io,
                    "451 4.3.0 could not store the message now; try again later",
                )
                .await
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// `<address>` after `FROM:`/`TO:`, with any parameters after it ignored.
fn path_after(rest: &str, prefix: &str) -> Option<String> {
    let rest = rest.trim_start();
    if rest.len() < prefix.len() || !rest[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = rest[prefix.len()..].trim_start();
    let path = match rest.strip_prefix('<') {
        Some(inner) => inner.split_once('>')?.0,
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    Some(path.trim().to_string())
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str) -> Io {
    let w = io.get_mut();
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// Reads one line (up to `max` bytes) with the idle timeout.
async fn read_line<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let read = async {
        let mut total = 0;
        loop {
            let buf = io.fill_buf().await?;
            if buf.is_empty() {
                return Ok(total);
            }
            let (take, done) = match memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let room = max.saturating_sub(line.len());
            line.extend_from_slice(&buf[..take.min(room)]);
            io.consume(take);
            total += take;
            if done || line.len() >= max {
                return Ok(total);
            }
        }
    };
    tokio::time::timeout(IDLE, read)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

#[cfg(test)]
mod tests {
    use super::path_after;

    #[test]
    fn paths_are_read_with_or_without_brackets_and_parameters() {
        assert_eq!(
            path_after("FROM:<a@x.org> SIZE=100 BODY=8BITMIME", "FROM:").as_deref(),
            Some("a@x.org")
        );
        assert_eq!(
            path_after("to: <b@x.org>", "TO:").as_deref(),
            Some("b@x.org")
        );
        assert_eq!(path_after("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(path_after("FRM:<a@x.org>", "FROM:"), None);
    }
}
