//! A real IMAP server for the tests: Debian's dovecot, configured in a temporary folder,
//! listening on a free port of 127.0.0.1, with one mailbox. Mail is put in it with
//! dovecot's own `doveadm save`, as a delivery would.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl Dovecot {
    pub fn start() -> Self {
        Self::start_with_tls(None)
    }

    /// With `Some((cert, key))` (PEM paths), IMAPS only: TLS from the first byte.
    pub fn start_with_tls(tls: Option<(&std::path::Path, &std::path::Path)>) -> Self {
        let dir = std::env::temp_dir().join(format!("seva-dovecot-{}", super::unique()));
        for sub in ["run", "mail", "home"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (user, password) = ("support@seva.test".to_string(), "imap-secret-2".to_string());
        std::fs::write(dir.join("passwd"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        let d = dir.display();
        // Mail is owned by nobody: dovecot refuses to act as root for a mailbox.
        let (ssl, imap_port, imaps_port) = match tls {
            Some((cert, key)) => (
                format!(
                    "ssl = required\nssl_cert = <{}\nssl_key = <{}\n",
                    cert.display(),
                    key.display()
                ),
                0,
                port,
            ),
            None => ("ssl = no\n".to_string(), port, 0),
        };
        let config = format!(
            "base_dir = {d}/run\nstate_dir = {d}/run\nlog_path = {d}/dovecot.log\nprotocols = imap\n\
             listen = 127.0.0.1\n{ssl}disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             first_valid_uid = 1\nmail_location = maildir:{d}/mail/%u\n\
             passdb {{\n driver = passwd-file\n args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n driver = static\n args = uid=65534 gid=65534 home={d}/home/%u\n}}\n\
             service imap-login {{\n chroot =\n inet_listener imap {{\n address = 127.0.0.1\n port = {imap_port}\n }}\n inet_listener imaps {{\n address = 127.0.0.1\n port = {imaps_port}\n }}\n}}\n\
             service anvil {{\n chroot =\n}}\n"
        );
        std::fs::write(dir.join("dovecot.conf"), config).unwrap();
        for sub in ["mail", "home"] {
            let ok = Command::new("chown")
                .args(["-R", "65534:65534"])
                .arg(dir.join(sub))
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot must be installed (apt-get install dovecot-imapd)");
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "dovecot did not start: {}",
                std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot {
            child,
            dir,
            port,
            user,
            password,
        }
    }

    /// Delivers a message into the mailbox's INBOX.
    pub fn deliver(&self, raw: &str) {
        use std::io::Write;
        let mut save = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["save", "-u", &self.user])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        save.stdin
            .take()
            .unwrap()
            .write_all(raw.as_bytes())
            .unwrap();
        assert!(save.wait().unwrap().success(), "doveadm save failed");
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
