//! The command line's words, and how configuration is gathered: flags, then `SEVA_*`
//! environment variables, then the TOML file, then defaults. Every key of the file has its
//! variable: its name in capitals after `SEVA_` (`max_body_mb` is `SEVA_MAX_BODY_MB`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use seva_core::agent::Role;
use seva_server::Config;

/// Seva: a customer service desk in one binary.
///
/// Start with `seva serve`: it creates ./seva-data (SQLite), prints the address, and on
/// the first run an admin login. Customers write at /contact; agents work at /inbox.
#[derive(Parser)]
#[command(name = "seva", version, about, long_about)]
pub struct Cli {
    /// The data folder: SQLite database, attachments.
    #[arg(long, env = "SEVA_DATA", global = true)]
    pub data: Option<PathBuf>,
    /// Where to listen, e.g. 0.0.0.0:8080 (port 0 picks a free one).
    #[arg(long, env = "SEVA_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Use PostgreSQL instead of SQLite: postgres://user@host/db
    #[arg(long, env = "SEVA_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// The address people reach Seva at, for links (e.g. https://help.example.com).
    #[arg(long, env = "SEVA_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Where the SMTP listener accepts mail for email inboxes (default 127.0.0.1:2525;
    /// `off` for none).
    #[arg(long, env = "SEVA_SMTP_LISTEN", global = true)]
    pub smtp_listen: Option<String>,
    /// API calls one agent may make per minute, all their tokens and sessions together
    /// (default 6000; 0: no limit). Over it, calls are answered 429 with Retry-After.
    #[arg(long, env = "SEVA_API_CALLS_PER_MINUTE", global = true)]
    pub api_calls_per_minute: Option<u64>,
    /// A TOML file with any of: data, listen, database_url, public_url, max_body_mb,
    /// max_attachment_mb, form_submissions_per_hour, api_calls_per_minute, smtp_listen,
    /// smtp_hostname, smtp_max_mb, smtp_tls_cert, smtp_tls_key, secret_key,
    /// imap_rescan_seconds, notify_email_after_seconds, close_solved_after_days,
    /// delete_closed_after_days, require_two_step. Each may also be set as SEVA_<KEY>
    /// (SEVA_MAX_BODY_MB=30), which wins over the file.
    #[arg(long, env = "SEVA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log level: error, warn, info, debug.
    #[arg(long, env = "SEVA_LOG", global = true, default_value = "info")]
    pub log: String,
    /// Log format: text, or json (one JSON object a line, for log collectors).
    #[arg(long, env = "SEVA_LOG_FORMAT", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run Seva: web pages, API, form and background jobs in one process.
    Serve,
    /// Bring the database schema up to date and exit (serve does this too).
    Migrate,
    /// Manage agents (the people who answer).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage teams (departments).
    #[command(subcommand)]
    Team(TeamCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// A customer's data, for their privacy requests (a copy, or its erasure).
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Copy the SQLite database and attachments, consistently, while Seva runs.
    Backup {
        /// A new, empty folder for the copy.
        dest: PathBuf,
    },
    /// Email: hand a message to an inbox (for a mail server's pipe transport).
    #[command(subcommand)]
    Mail(MailCommand),
    /// The knowledge base as a folder of Markdown files with front matter.
    #[command(subcommand)]
    Kb(KbCommand),
    /// Rebuild the search index from the database (with `seva serve` stopped).
    Reindex,
    /// Measure throughput, latency and memory (see docs/benchmarks.md).
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
pub enum KbCommand {
    /// Create or update articles from every .md file under DIR (translations after their
    /// originals; see docs/knowledge.md for the front matter).
    Import {
        dir: PathBuf,
        /// Publish the files that do not say their status (else they are drafts).
        #[arg(long)]
        publish: bool,
    },
    /// Write every article to DIR/<lang>/<slug>.md.
    Export { dir: PathBuf },
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// Store one message read from standard input in an email inbox.
    ///
    /// For a local MTA's pipe transport. Exit codes follow sysexits: 0 stored, 65 the
    /// message is unreadable, 67 no such inbox, 75 try again later.
    Deliver {
        /// The inbox's name.
        #[arg(long)]
        inbox: String,
        /// The envelope recipient, when the MTA passes it (for reply addresses).
        #[arg(long)]
        recipient: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add an agent; prints a one-time password unless --password-stdin is given.
    Add {
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role, default_value = "agent")]
        role: Role,
        /// Read the password from standard input instead of making one.
        #[arg(long)]
        password_stdin: bool,
        /// The language of the agent's pages: en, te, el, tl.
        #[arg(long, default_value = "en")]
        language: String,
    },
    /// List agents.
    List,
    /// Disable an agent: ends their sessions and revokes their tokens.
    Disable { email: String },
    /// Enable a disabled agent again (their old API tokens stay revoked).
    Enable { email: String },
    /// Give an agent a new one-time password (printed) and end their sessions: for one
    /// who forgot theirs.
    ResetPassword { email: String },
    /// Turn an agent's two-step verification off (a lost phone, no recovery codes left):
    /// their password alone logs them in until they turn it on again.
    TwoStepOff { email: String },
}

#[derive(Subcommand)]
pub enum TeamCommand {
    /// Add a team; prints its id.
    Add {
        name: String,
        /// Only members, supervisors and admins see its conversations.
        #[arg(long)]
        private: bool,
    },
    /// List teams.
    List,
    /// Put an agent in a team.
    AddMember { team: String, email: String },
    /// Take an agent out of a team.
    RemoveMember { team: String, email: String },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token for an agent; prints the token alone on standard output.
    Create {
        #[arg(long)]
        user: String,
        /// What the token is for, as the token list and the People page show it.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List every token: its id, name, agent, and when it was made, last used or revoked.
    List,
    /// Revoke a token by its id (from `token list`): it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum ContactCommand {
    /// Print everything the desk holds about a contact as JSON (their details, every
    /// conversation with its messages, what they wrote elsewhere). CONTACT is their id or
    /// email address.
    Export { contact: String },
    /// Erase a contact and everything the desk holds about them, for good. CONTACT is
    /// their id or email address.
    Erase {
        contact: String,
        /// Confirms that the erasure cannot be undone (required).
        #[arg(long)]
        yes: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: seva_core::conversation::UnknownWord| e.to_string())
}

/// The settings file's keys, each also read from its `SEVA_<KEY>` environment variable,
/// which wins over the file.
macro_rules! file_config {
    ($($key:ident: $ty:ty,)*) => {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct FileConfig {
            $($key: Option<$ty>,)*
        }

        impl FileConfig {
            fn with_environment(mut self) -> Result<Self> {
                $(
                    if let Some(value) = from_environment(stringify!($key))? {
                        self.$key = Some(value);
                    }
                )*
                Ok(self)
            }
        }
    };
}

file_config! {
    data: PathBuf,
    listen: SocketAddr,
    database_url: String,
    public_url: String,
    max_body_mb: usize,
    max_attachment_mb: usize,
    form_submissions_per_hour: usize,
    api_calls_per_minute: u64,
    smtp_listen: String,
    smtp_hostname: String,
    smtp_max_mb: usize,
    smtp_tls_cert: PathBuf,
    smtp_tls_key: PathBuf,
    secret_key: String,
    imap_rescan_seconds: u64,
    notify_email_after_seconds: u64,
    close_solved_after_days: u64,
    delete_closed_after_days: u64,
    require_two_step: String,
    test_clock: bool,
}

/// `SEVA_<KEY>` read as the key's type; unset or empty is none. A value that is not one
/// is an error naming the variable (never its value: it may be a secret).
fn from_environment<T: std::str::FromStr>(key: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let name = format!("SEVA_{}", key.to_uppercase());
    match std::env::var(&name) {
        Ok(value) if !value.is_empty() => value
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{name} cannot be read: {e}")),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!("{name} is not UTF-8"),
    }
}

impl Cli {
    pub fn log_level(&self) -> tracing::Level {
        self.log.parse().unwrap_or(tracing::Level::INFO)
    }

    pub fn config(&self) -> Result<Config> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid Seva config", path.display()))?
            }
            None => FileConfig::default(),
        }
        .with_environment()?;
        let data = self
            .data
            .clone()
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from("seva-data"));
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let mut config = Config::new(data, listen);
        config.database_url = self
            .database_url
            .clone()
            .or(file.database_url)
            .filter(|u| !u.is_empty());
        if let Some(url) = self.public_url.clone().or(file.public_url) {
            config.secure_cookies = url.starts_with("https://");
            config.public_url = url.trim_end_matches('/').to_string();
        }
        if let Some(mb) = file.max_body_mb {
            config.max_body_bytes = mb * 1024 * 1024;
        }
        if let Some(mb) = file.max_attachment_mb {
            config.max_attachment_bytes = mb * 1024 * 1024;
        }
        if let Some(n) = file.form_submissions_per_hour {
            config.form_submissions_per_hour = n;
        }
        if let Some(n) = self.api_calls_per_minute.or(file.api_calls_per_minute) {
            config.api_calls_per_minute = n;
        }
        if let Some(listen) = self.smtp_listen.clone().or(file.smtp_listen) {
            config.smtp_listen = match listen.trim() {
                "off" | "" => None,
                addr => Some(
                    addr.parse()
                        .with_context(|| format!("smtp_listen: {addr} is not an address"))?,
                ),
            };
        }
        if let Some(name) = file.smtp_hostname {
            config.smtp_hostname = name;
        }
        config.test_clock = file.test_clock.unwrap_or(false);
        if let Some(s) = file.imap_rescan_seconds {
            config.imap_rescan_seconds = s.max(1);
        }
        if let Some(s) = file.notify_email_after_seconds {
            config.notify_email_after_seconds = s;
        }
        if let Some(days) = file.close_solved_after_days {
            config.close_solved_after_days = days;
        }
        if let Some(days) = file.delete_closed_after_days {
            config.delete_closed_after_days = days;
        }
        if let Some(rule) = file.require_two_step {
            config.require_two_step = rule.parse().map_err(anyhow::Error::msg)?;
        }
        if let Some(mb) = file.smtp_max_mb {
            config.smtp_max_bytes = mb * 1024 * 1024;
        }
        match (file.smtp_tls_cert, file.smtp_tls_key) {
            (Some(cert), Some(key)) => config.smtp_tls = Some((cert, key)),
            (None, None) => {}
            _ => anyhow::bail!("smtp_tls_cert and smtp_tls_key go together"),
        }
        config.secret_key = file.secret_key;
        Ok(config)
    }
}
