//! `seva`: the command line. `seva serve` runs everything in one process; the other
//! commands manage users, teams, tokens and backups on the same data folder or database.

mod bench;
mod bench_chat;
mod bench_mail;
mod bench_routing;
mod bench_search;
mod bench_tools;
mod cli;
mod kb;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use seva_core::agent::Role;
use seva_server::{AppState, Config};
use seva_store::{Store, agents, op, teams};

use cli::{
    Cli, Command, ContactCommand, KbCommand, MailCommand, TeamCommand, TokenCommand, UserCommand,
};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_max_level(cli.log_level())
        .with_writer(std::io::stderr)
        .with_target(false);
    // JSON lines for log collectors; readable text for a person at a terminal.
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let config = cli.config()?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            seva_server::open_store(&config).await?;
            println!("the database is at the newest schema");
            Ok(())
        }
        Command::User(cmd) => user(&config, cmd).await,
        Command::Team(cmd) => team(&config, cmd).await,
        Command::Token(cmd) => token(&config, cmd).await,
        Command::Contact(cmd) => contact(&config, cmd).await,
        Command::Backup { dest } => backup(&config, &dest).await,
        Command::Mail(MailCommand::Deliver { inbox, recipient }) => {
            std::process::exit(deliver(config, &inbox, recipient).await)
        }
        Command::Kb(KbCommand::Import { dir, publish }) => {
            kb::import(&seva_server::open_store(&config).await?, &dir, publish).await
        }
        Command::Kb(KbCommand::Export { dir }) => {
            kb::export(&seva_server::open_store(&config).await?, &dir).await
        }
        Command::Reindex => {
            let store = seva_server::open_store(&config).await?;
            let index = seva_server::search::open(&config).map_err(|e| {
                anyhow::anyhow!(
                    "{e}; if `seva serve` is running on this data folder, stop it first"
                )
            })?;
            let started = std::time::Instant::now();
            let n = seva_server::search::rebuild(&store, &index)
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "search index rebuilt: {n} documents in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Bench(args) => bench::run(args).await,
    }
}

async fn serve(config: Config) -> Result<()> {
    let store =
        seva_server::open_store(&config)
            .await
            .with_context(|| match &config.database_url {
                Some(_) => "cannot open the PostgreSQL database".to_string(),
                None => format!("cannot open the database in {}", config.data_dir.display()),
            })?;
    let first_admin = first_run_admin(&store).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let key = seva_server::secrets::Key::load(config.secret_key.as_deref(), &config.data_dir)?;
    let smtp = match config.smtp_listen {
        Some(at) => {
            let l = tokio::net::TcpListener::bind(at).await.with_context(|| {
                format!(
                    "cannot listen for SMTP on {at} (choose another with --smtp-listen, or 'off')"
                )
            })?;
            let tls = match &config.smtp_tls {
                Some((cert, key)) => Some(
                    seva_server::mail::smtp::tls_acceptor(cert, key).map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            Some((l, tls))
        }
        None => None,
    };
    let mut config = config;
    if config.public_url == format!("http://{}", config.listen) {
        config.public_url = format!("http://{addr}");
    }
    let url = config.public_url.clone();
    match &config.database_url {
        Some(_) => eprintln!("Seva is running at {url} (PostgreSQL)"),
        None => eprintln!(
            "Seva is running at {url} (data in {})",
            config.data_dir.display()
        ),
    }
    eprintln!("  agents:    {url}/login");
    eprintln!("  customers: {url}/contact");
    eprintln!("  API:       {url}/api/openapi.json");
    if let Some((email, password)) = first_admin {
        eprintln!();
        eprintln!("First run: an admin account was created. Log in with");
        eprintln!("  email:    {email}");
        eprintln!("  password: {password}");
        eprintln!("This password is shown only now.");
    }
    if let Some((l, tls)) = &smtp {
        eprintln!(
            "  email:     SMTP on {}{}",
            l.local_addr()?,
            if tls.is_some() { " (STARTTLS)" } else { "" }
        );
        // Machine-readable, before the line below, for scripts and tests on port 0.
        println!("smtp listening on {}", l.local_addr()?);
    }
    // A machine-readable line for scripts and tests that start Seva on port 0.
    println!("listening on {addr}");
    let state = AppState::new(store, config, key);
    seva_server::serve(state, listener, smtp, shutdown_signal()).await?;
    Ok(())
}

/// `seva mail deliver`: one message from standard input into an inbox. Returns the exit
/// code (sysexits) an MTA understands.
async fn deliver(config: Config, inbox: &str, recipient: Option<String>) -> i32 {
    const TEMPFAIL: i32 = 75;
    const DATAERR: i32 = 65;
    const NOUSER: i32 = 67;
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut raw) {
        eprintln!("error: cannot read the message: {e}");
        return TEMPFAIL;
    }
    if raw.len() > config.smtp_max_bytes {
        eprintln!(
            "error: the message is larger than {} bytes",
            config.smtp_max_bytes
        );
        return DATAERR;
    }
    let store = match seva_server::open_store(&config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the database: {e}");
            return TEMPFAIL;
        }
    };
    let key = match seva_server::secrets::Key::load(config.secret_key.as_deref(), &config.data_dir)
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return TEMPFAIL;
        }
    };
    let name = inbox.to_string();
    let found = match store
        .read(op!(c => seva_store::inboxes::by_name(c, &name).await))
        .await
    {
        Ok(Some(i)) if i.channel == seva_core::conversation::Channel::Email => i,
        Ok(_) => {
            eprintln!("error: no email inbox named {inbox}");
            return NOUSER;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return TEMPFAIL;
        }
    };
    let recipients: Vec<String> = recipient.into_iter().chain(found.address.clone()).collect();
    let state = AppState::new(store, config, key);
    match seva_server::mail::receive(&state, &found, &recipients, raw).await {
        Ok(outcome) => {
            eprintln!("{outcome:?}");
            0
        }
        Err(seva_server::mail::ReceiveError::Rejected(why)) => {
            eprintln!("error: {why}");
            DATAERR
        }
        Err(seva_server::mail::ReceiveError::Temporary(why)) => {
            eprintln!("error: {why}");
            TEMPFAIL
        }
    }
}

/// On an empty database, creates the first admin and returns its login.
async fn first_run_admin(store: &Store) -> Result<Option<(String, String)>> {
    let count = store.read(op!(c => agents::count(c).await)).await?;
    if count > 0 {
        return Ok(None);
    }
    let email = std::env::var("SEVA_ADMIN_EMAIL").unwrap_or_else(|_| "admin@seva.local".into());
    let password = seva_server::auth::new_password();
    let hash = hash(password.clone()).await?;
    let e = email.clone();
    store
        .write(op!(c => agents::create(c, agents::NewAgent {
            email: &e, name: "Admin", role: Role::Admin, language: "en",
            password_hash: Some(hash), must_change_password: true,
        }, "system").await))
        .await?;
    Ok(Some((email, password)))
}

async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || seva_server::auth::hash_password(&password))
        .await?
        .map_err(|p| anyhow::anyhow!(p.detail))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    eprintln!("shutting down");
}

async fn user(config: &Config, cmd: UserCommand) -> Result<()> {
    let store = seva_server::open_store(config).await?;
    match cmd {
        UserCommand::Add {
            email,
            name,
            role,
            password_stdin,
            language,
        } => {
            let (password, shown) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_to_string(&mut line)?;
                let pw = line.trim_end_matches(['\r', '\n']).to_string();
                if pw.chars().count() < 10 {
                    bail!("a password has at least 10 characters");
                }
                (pw, false)
            } else {
                (seva_server::auth::new_password(), true)
            };
            let hash = hash(password.clone()).await?;
            let lang = seva_server::i18n::Tr::new(&language).lang;
            let agent = store
                .write(op!(c => agents::create(c, agents::NewAgent {
                    email: &email, name: &name, role, language: lang,
                    password_hash: Some(hash), must_change_password: shown,
                }, "system").await))
                .await?;
            eprintln!("created {} ({}) as {}", agent.email, agent.name, agent.role);
            if shown {
                eprintln!("one-time password (shown only now):");
                println!("{password}");
            }
        }
        UserCommand::List => {
            let list = store.read(op!(c => agents::list(c).await)).await?;
            println!("{:<36}  {:<10}  {:<8}  NAME", "EMAIL", "ROLE", "STATE");
            for a in list {
                let state = if a.disabled { "disabled" } else { "active" };
                println!("{:<36}  {:<10}  {:<8}  {}", a.email, a.role, state, a.name);
            }
        }
        UserCommand::Disable { email } => {
            let id = agent_by_email(&store, &email).await?;
            store
                .write(op!(c => agents::set_disabled(c, id, true, "system").await))
                .await?;
            eprintln!("disabled {email}: its sessions ended and its API tokens were revoked");
        }
        UserCommand::Enable { email } => {
            let id = agent_by_email(&store, &email).await?;
            store
                .write(op!(c => agents::set_disabled(c, id, false, "system").await))
                .await?;
            eprintln!("enabled {email}");
        }
        UserCommand::ResetPassword { email } => {
            let id = agent_by_email(&store, &email).await?;
            let password = seva_server::auth::new_password();
            let hash = hash(password.clone()).await?;
            store
                .write(op!(c => agents::reset_password(c, id, hash, "system").await))
                .await?;
            eprintln!("{email}: sessions ended; one-time password (shown only now):");
            println!("{password}");
        }
        UserCommand::TwoStepOff { email } => {
            let id = agent_by_email(&store, &email).await?;
            store
                .write(op!(c => agents::turn_off_two_step(c, id, "system").await))
                .await?;
            eprintln!("{email}: two-step verification is off; their password alone logs them in");
        }
    }
    Ok(())
}

async fn contact(config: &Config, cmd: ContactCommand) -> Result<()> {
    let store = seva_server::open_store(config).await?;
    let (ContactCommand::Export { contact } | ContactCommand::Erase { contact, .. }) = &cmd;
    let id = contact_by_id_or_email(&store, contact).await?;
    match cmd {
        ContactCommand::Export { .. } => {
            let export = store
                .read(op!(c => seva_store::privacy::export(c, id).await))
                .await?;
            println!("{}", serde_json::to_string_pretty(&export)?);
        }
        ContactCommand::Erase { yes, .. } => {
            if !yes {
                bail!("an erasure cannot be undone: add --yes to confirm it");
            }
            let e = seva_store::privacy::erase_contact(&store, id, "system").await?;
            eprintln!(
                "erased {} contact(s), {} conversation(s), {} message(s) and {} file(s); \
                 {} message(s) they wrote in other customers' conversations emptied",
                e.contacts, e.conversations, e.messages, e.attachments, e.emptied_messages
            );
        }
    }
    Ok(())
}

/// A contact named by its id or one of its email addresses.
async fn contact_by_id_or_email(store: &Store, raw: &str) -> Result<seva_core::ContactId> {
    if let Ok(id) = raw.trim().parse() {
        return Ok(id);
    }
    let key = seva_core::contact::Email::parse(raw)
        .map_err(|e| {
            anyhow::anyhow!(
                "{raw:?} is neither a contact id nor an email address: {}",
                e.0
            )
        })?
        .identity_key();
    store
        .read(op!(c => seva_store::contacts::by_identity(c, seva_core::contact::IdentityKind::Email, &key).await))
        .await
        .with_context(|| format!("no contact with email {raw}"))
}

async fn agent_by_email(store: &Store, email: &str) -> Result<seva_core::AgentId> {
    let e = email.trim().to_lowercase();
    let agent = store
        .read(op!(c => agents::by_email(c, &e).await))
        .await?
        .with_context(|| format!("no agent with email {email}"))?;
    Ok(agent.id)
}

async fn token(config: &Config, cmd: TokenCommand) -> Result<()> {
    let store = seva_server::open_store(config).await?;
    match cmd {
        TokenCommand::Create { user, name } => {
            let email = user.trim().to_lowercase();
            let agent = store
                .read(op!(c => agents::by_email(c, &email).await))
                .await?
                .with_context(|| format!("no agent with email {user}"))?;
            if agent.disabled {
                bail!("{user} is disabled");
            }
            let token = seva_server::auth::new_secret();
            let hash = seva_server::auth::sha256_hex(token.as_bytes());
            let id = agent.id;
            store
                .write(op!(c => agents::create_token(c, id, &name, &hash, "system").await))
                .await?;
            // Alone on standard output, so scripts can capture it.
            println!("{token}");
        }
        TokenCommand::List => {
            let list = store.read(op!(c => agents::list_tokens(c).await)).await?;
            println!(
                "{:<36}  {:<20}  {:<20}  {:<20}  NAME",
                "ID", "AGENT", "MADE", "LAST USED"
            );
            let day = |t: Option<seva_core::time::Timestamp>| {
                t.map(|t| t.rfc3339()[..16].replace('T', " "))
                    .unwrap_or_else(|| "never".into())
            };
            for t in list {
                let name = match t.revoked_at {
                    Some(at) => format!("{} (revoked {})", t.name, day(Some(at))),
                    None => t.name,
                };
                println!(
                    "{:<36}  {:<20}  {:<20}  {:<20}  {name}",
                    t.id,
                    t.agent_name,
                    day(Some(t.created_at)),
                    day(t.last_used_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let id: seva_core::TokenId = id
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{id:?} is not a token id (see `seva token list`)"))?;
            let token = store
                .write(op!(c => agents::revoke_token(c, id, "system").await))
                .await
                .map_err(|e| match e {
                    seva_store::Error::NotFound => anyhow::anyhow!("no token with id {id}"),
                    e => e.into(),
                })?;
            eprintln!("revoked {} ({}'s)", token.name, token.agent_name);
        }
    }
    Ok(())
}

async fn team(config: &Config, cmd: TeamCommand) -> Result<()> {
    let store = seva_server::open_store(config).await?;
    match cmd {
        TeamCommand::Add { name, private } => {
            let team = store
                .write(op!(c => teams::create(c, &name, private, "system").await))
                .await?;
            eprintln!(
                "created team {}{}",
                team.name,
                if team.private { " (private)" } else { "" }
            );
            println!("{}", team.id);
        }
        TeamCommand::List => {
            let list = store.read(op!(c => teams::list(c).await)).await?;
            for t in list {
                println!(
                    "{}  {}{}  ({} members)",
                    t.id,
                    t.name,
                    if t.private { " [private]" } else { "" },
                    t.members.len()
                );
            }
        }
        TeamCommand::AddMember { team, email } => {
            membership(&store, &team, &email, true).await?;
            eprintln!("{email} is now in {team}");
        }
        TeamCommand::RemoveMember { team, email } => {
            membership(&store, &team, &email, false).await?;
            eprintln!("{email} is no longer in {team}");
        }
    }
    Ok(())
}

/// Puts an agent (by email) in a team (by name), or takes them out.
async fn membership(store: &Store, team: &str, email: &str, add: bool) -> Result<()> {
    let (name, e) = (team.to_string(), email.trim().to_lowercase());
    store
        .write(op!(c => {
            let t = teams::by_name(c, &name).await?.ok_or(seva_store::Error::invalid("team", "no such team"))?;
            let a = agents::by_email(c, &e).await?.ok_or(seva_store::Error::invalid("email", "no such agent"))?;
            if add {
                teams::add_member(c, t.id, a.id, "system").await
            } else {
                teams::remove_member(c, t.id, a.id, "system").await
            }
        }))
        .await?;
    Ok(())
}

/// A consistent copy of a running SQLite installation: the database through SQLite's own
/// snapshot (VACUUM INTO), then the attachment files (content-addressed, so a file written
/// after the snapshot is harmless extra).
async fn backup(config: &Config, dest: &Path) -> Result<()> {
    if config.database_url.is_some() {
        bail!(
            "`seva backup` copies a SQLite installation; for PostgreSQL use pg_dump (see docs/operations.md)"
        );
    }
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        bail!("{} is not empty; back up into a new folder", dest.display());
    }
    std::fs::create_dir_all(dest)?;
    let store = seva_server::open_store(config).await?;
    store.backup_sqlite(&dest.join("seva.db")).await?;
    let copied = copy_tree(&config.attachments_dir(), &dest.join("attachments"))?;
    // Without the key, the inboxes' sealed passwords could not be read after a restore.
    let key = config.data_dir.join("secret.key");
    if key.exists() {
        std::fs::copy(&key, dest.join("secret.key"))?;
    }
    eprintln!(
        "backed up the database, the server key and {copied} attachment files to {}",
        dest.display()
    );
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<usize> {
    if !from.exists() {
        return Ok(0);
    }
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            n += copy_tree(&entry.path(), &target)?;
        } else if !entry.file_name().to_string_lossy().ends_with(".tmp") {
            std::fs::copy(entry.path(), &target)?;
            n += 1;
        }
    }
    Ok(n)
}
