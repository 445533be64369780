//! Two-step verification: after the password, a six-digit code from an authenticator app
//! (TOTP, RFC 6238: HMAC-SHA1 over 30-second steps, as every such app reads it), or one of
//! ten recovery codes, each good once. The app's key is stored sealed with the server's
//! key; recovery codes only as hashes.

use hmac::{Hmac, KeyInit, Mac};

/// Seconds a code stands for.
const STEP: i64 = 30;

/// How many recovery codes an agent gets.
pub const RECOVERY_CODES: usize = 10;

/// A new key for an authenticator app: 160 random bits, in base32 as apps take it.
pub fn new_key() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the system's random source");
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// The key in groups of four, easier to type into an app than to read off as one word.
pub fn grouped(key: &str) -> String {
    key.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The link an authenticator app reads from the QR code: the desk's name and the agent's
/// address label the entry.
pub fn uri(issuer: &str, account: &str, key: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={key}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// The QR code of `text`, as an SVG element to put in a page.
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// The code for one time step.
fn code_at(key: &[u8], step: i64) -> u32 {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    value % 1_000_000
}

/// The time step of `unix_seconds`.
pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP)
}

/// The step `code` was made for, when it is right for `key` at `now_step` or one step
/// either side (the phone's clock may be half a minute off). The caller still refuses a
/// step already used, so that a code seen over a shoulder is good for nobody else.
pub fn check(key: &str, code: &str, now_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let key = data_encoding::BASE32_NOPAD.decode(key.as_bytes()).ok()?;
    // Every candidate is computed, so the time taken does not tell which one matched.
    let mut found = None;
    for step in [now_step - 1, now_step, now_step + 1] {
        if crate::auth::constant_time_eq(&code_at(&key, step).to_be_bytes(), &given.to_be_bytes()) {
            found = Some(step);
        }
    }
    found
}

/// Ten new recovery codes, as `xxxx-xxxx` in lowercase letters and digits without the
/// ones people confuse (0/o, 1/l/i).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).expect("the system's random source");
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &chars[..4], &chars[4..])
        })
        .collect()
}

/// The hash a recovery code is stored as: of its letters and digits in lowercase, so that
/// `ABCD EFGH` finds `abcd-efgh`.
pub fn recovery_hash(code: &str) -> String {
    let plain: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    crate::auth::sha256_hex(plain.as_bytes())
}

/// Whether what was typed looks like a recovery code rather than an app's code.
pub fn is_recovery_code(code: &str) -> bool {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 8
        && code.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238, appendix B, SHA-1: the ASCII key "12345678901234567890"; the RFC's
        // eight-digit codes end in these six.
        let key = b"12345678901234567890";
        for (time, code) in [
            (59, 287082),
            (1111111109, 81804),
            (1111111111, 50471),
            (1234567890, 5924),
            (2000000000, 279037),
        ] {
            assert_eq!(code_at(key, step_of(time)), code, "at {time}");
        }
        let b32 = data_encoding::BASE32_NOPAD.encode(key);
        assert_eq!(check(&b32, "287 082", step_of(59)), Some(1));
        assert_eq!(
            check(&b32, "287082", step_of(59) + 1),
            Some(1),
            "a step late"
        );
        assert_eq!(check(&b32, "287082", step_of(59) + 2), None, "too late");
        assert_eq!(check(&b32, "28708", step_of(59)), None);
        assert_eq!(check(&b32, "28708x", step_of(59)), None);
    }

    #[test]
    fn recovery_codes_are_read_however_they_are_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert!(is_recovery_code(code), "{code}");
        assert!(!is_recovery_code("123456"));
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(recovery_hash(&typed), recovery_hash(code));
        assert_ne!(recovery_hash(&codes[1]), recovery_hash(code));
    }

    #[test]
    fn a_key_is_a_base32_word_an_app_takes() {
        let key = new_key();
        assert_eq!(key.len(), 32);
        assert_eq!(grouped(&key).split(' ').count(), 8);
        let uri = uri("Seva desk", "ravi@example.com", &key);
        assert!(uri.starts_with("otpauth://totp/Seva%20desk:ravi%40example.com?secret="));
        assert!(qr_svg(&uri).contains("<svg"));
    }
}
