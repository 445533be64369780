//! The server's own key, and secrets sealed with it. Inbox passwords and signing keys are
//! stored encrypted (XChaCha20-Poly1305), so a copied database or backup does not give
//! away the mail accounts. The key lives in `secret.key` in the data folder (created on
//! first start, readable by its owner only) or comes from `SEVA_SECRET_KEY`, which every
//! node of a PostgreSQL deployment must share.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("SEVA_SECRET_KEY must be 64 hexadecimal characters")]
    BadHex,
    #[error("cannot read or create {0}: {1}")]
    File(String, std::io::Error),
    #[error("{0} must hold 32 bytes")]
    BadFile(String),
    #[error("a secret could not be decrypted (was the server key changed?)")]
    Undecryptable,
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Key {
    /// The key from `hex` when given, else from the data folder's key file (made if missing).
    pub fn load(hex: Option<&str>, data_dir: &Path) -> Result<Self, KeyError> {
        if let Some(h) = hex {
            return from_hex(h).map(Key).ok_or(KeyError::BadHex);
        }
        let path = data_dir.join("secret.key");
        let shown = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => bytes
                .try_into()
                .map(Key)
                .map_err(|_| KeyError::BadFile(shown)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).expect("the operating system's random source failed");
                std::fs::create_dir_all(data_dir).map_err(|e| KeyError::File(shown.clone(), e))?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options
                    .open(&path)
                    .map_err(|e| KeyError::File(shown.clone(), e))?;
                f.write_all(&key)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| KeyError::File(shown, e))?;
                Ok(Key(key))
            }
            Err(e) => Err(KeyError::File(shown, e)),
        }
    }

    /// A fixed key, for tests.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    /// Bytes derived for one purpose, so the key itself is never used twice.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(purpose.as_bytes());
        h.finalize().into()
    }

    /// Encrypts `plain` as `v1:<hex nonce and ciphertext>`.
    pub fn seal(&self, plain: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("encryption of a short text does not fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("v1:{}", crate::auth::hex(&bytes))
    }

    pub fn open(&self, sealed: &str) -> Result<String, KeyError> {
        let hex = sealed.strip_prefix("v1:").ok_or(KeyError::Undecryptable)?;
        let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok())
            .collect();
        let bytes = bytes
            .filter(|b| b.len() > 24)
            .ok_or(KeyError::Undecryptable)?;
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher
            .decrypt(XNonce::from_slice(&bytes[..24]), &bytes[24..])
            .map_err(|_| KeyError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| KeyError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let k = Key::from_bytes([7; 32]);
        let sealed = k.seal("hunter2 κωδικός");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(k.open(&sealed).unwrap(), "hunter2 κωδικός");
        assert!(Key::from_bytes([8; 32]).open(&sealed).is_err());
        assert_ne!(k.seal("x"), k.seal("x"), "a fresh nonce each time");
    }

    #[test]
    fn the_key_file_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("seva-key-{}", crate::auth::new_secret()));
        let a = Key::load(None, &dir).unwrap();
        let b = Key::load(None, &dir).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(Key::load(Some("zz"), &dir), Err(KeyError::BadHex)));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
