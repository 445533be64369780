//! Server settings, read once by the binary (file, environment, flags) and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite database, attachments and index live.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `postgres://…` to use PostgreSQL instead of SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The address customers and agents reach Seva at, for links (default: from `listen`).
    pub public_url: String,
    /// The largest request body (the web form with its files).
    pub max_body_bytes: usize,
    /// The largest single attachment.
    pub max_attachment_bytes: usize,
    /// Send cookies only over HTTPS. On by default when `public_url` is https.
    pub secure_cookies: bool,
    /// Web-form submissions one address may make per hour.
    pub form_submissions_per_hour: usize,
    /// API calls one agent may make per minute (a burst may spend a whole minute's at
    /// once); 0 is no limit.
    pub api_calls_per_minute: u64,
    /// Failed logins per address (and per account) per 15 minutes before refusing.
    pub login_failures_per_window: usize,
    /// How often the job worker looks for due jobs.
    pub job_poll_millis: u64,
    /// Where the SMTP listener accepts mail for our inboxes (`None`: no listener).
    pub smtp_listen: Option<SocketAddr>,
    /// The name the SMTP listener greets with.
    pub smtp_hostname: String,
    /// The largest message the SMTP listener accepts.
    pub smtp_max_bytes: usize,
    /// Certificate and key (PEM files) for STARTTLS on the SMTP listener.
    pub smtp_tls: Option<(PathBuf, PathBuf)>,
    /// How often the IMAP supervisor looks for added or changed IMAP accounts.
    pub imap_rescan_seconds: u64,
    /// How long a notification may stay unread in the desk before it is mailed to its
    /// agent (from the email inbox that sends notifications; default 120).
    pub notify_email_after_seconds: u64,
    /// Days a conversation stays solved before it is closed (default 14, as long as an
    /// email reply may reopen it); 0 never closes one.
    pub close_solved_after_days: u64,
    /// The desk's retention period: days a conversation stays closed and unchanged before
    /// it is deleted for good, with its messages, files and history (default 0: never).
    pub delete_closed_after_days: u64,
    /// Who must log in with two-step verification: nobody (each agent chooses), admins, or
    /// everyone. An agent it applies to who has not set it up is sent to set it up first.
    pub require_two_step: TwoStepRule,
    /// Lets an admin move this server's clock through the API (for tests of timers only).
    pub test_clock: bool,
    /// The server key as 64 hex characters, when not in `secret.key` in the data folder.
    pub secret_key: Option<String>,
}

impl Config {
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        let public_url = format!("http://{listen}");
        Self {
            data_dir,
            listen,
            database_url: None,
            secure_cookies: false,
            public_url,
            max_body_bytes: 30 * 1024 * 1024,
            max_attachment_bytes: 20 * 1024 * 1024,
            form_submissions_per_hour: 20,
            api_calls_per_minute: 6_000,
            login_failures_per_window: 10,
            job_poll_millis: 500,
            smtp_listen: Some(SocketAddr::from(([127, 0, 0, 1], 2525))),
            smtp_hostname: "localhost".into(),
            smtp_max_bytes: 25 * 1024 * 1024,
            smtp_tls: None,
            secret_key: None,
            imap_rescan_seconds: 30,
            notify_email_after_seconds: 120,
            close_solved_after_days: 14,
            delete_closed_after_days: 0,
            require_two_step: TwoStepRule::Nobody,
            test_clock: false,
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("seva.db")
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.data_dir.join("attachments")
    }
}

/// Whom two-step verification is required of (`require_two_step` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoStepRule {
    Nobody,
    Admins,
    Everyone,
}

impl TwoStepRule {
    /// Whether an agent of this role must have it on.
    pub fn applies_to(self, role: seva_core::agent::Role) -> bool {
        match self {
            TwoStepRule::Nobody => false,
            TwoStepRule::Admins => role == seva_core::agent::Role::Admin,
            TwoStepRule::Everyone => true,
        }
    }
}

impl std::str::FromStr for TwoStepRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "nobody" | "none" | "" => Ok(TwoStepRule::Nobody),
            "admins" => Ok(TwoStepRule::Admins),
            "everyone" => Ok(TwoStepRule::Everyone),
            other => Err(format!(
                "require_two_step: {other:?} is not nobody, admins or everyone"
            )),
        }
    }
}
