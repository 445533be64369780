//! Delivering events to integrators' webhooks: one POST of the event as JSON, signed
//! with HMAC-SHA256 under the webhook's secret. The receiver recomputes
//! `HMAC(secret, "<t>.<body>")` and compares it with `v1` in
//! `Seva-Signature: t=<unix seconds>,v1=<hex>`, and refuses an old `t` (a replay).
//! Anything but a 2xx answer is a failed attempt, retried by the job queue with backoff;
//! every attempt is logged. Redirects are not followed.

use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use seva_core::WebhookId;
use seva_store::jobs::Job;
use seva_store::webhooks::{self, Attempt};
use seva_store::{Error, op};

use crate::Shared;

/// The value of the `Seva-Signature` header for `body` sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={t},v1={}",
        crate::auth::hex(&mac.finalize().into_bytes())
    )
}

/// Runs one delivery job. A webhook deleted or disabled since is done with, quietly.
pub async fn deliver(state: &Shared, job: &Job) -> Result<(), String> {
    let hook: WebhookId = job
        .payload
        .get("webhook_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or("the job names no webhook")?;
    let seq = job
        .payload
        .get("event_seq")
        .and_then(|v| v.as_i64())
        .ok_or("the job names no event")?;
    let found = state
        .store
        .read(op!(c => Ok((webhooks::get(c, hook).await?, seva_store::events::by_seq(c, seq).await?))))
        .await;
    let (webhook, event) = match found {
        Ok(pair) => pair,
        Err(Error::NotFound) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if !webhook.enabled {
        return Ok(());
    }
    let secret = state
        .key
        .open(&webhook.sealed_secret)
        .map_err(|e| format!("the webhook's secret cannot be opened: {e}"))?;
    let body = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    let t = seva_store::now().micros() / 1_000_000;
    let headers = [
        ("content-type", "application/json".to_string()),
        (
            "user-agent",
            concat!("Seva/", env!("CARGO_PKG_VERSION")).to_string(),
        ),
        ("seva-event", event.kind.clone()),
        ("seva-delivery", job.id.to_string()),
        ("seva-attempt", job.attempts.to_string()),
        ("seva-signature", signature(&secret, t, &body)),
    ];
    let url = webhook.url.clone();
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut request = agent.post(&url);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        request.send(&body[..]).map(|r| r.status().as_u16())
    })
    .await
    .map_err(|e| e.to_string())?;
    let duration_ms = started.elapsed().as_millis() as i64;
    let (status_code, error) = match &answer {
        Ok(code) if (200..300).contains(code) => (Some(*code as i64), None),
        Ok(code) => (
            Some(*code as i64),
            Some(format!("the receiver answered HTTP {code}")),
        ),
        Err(e) => (None, Some(format!("could not reach the receiver: {e}"))),
    };
    let logged = error.clone();
    let attempt = job.attempts;
    if let Err(e) = state
        .store
        .write(op!(c => webhooks::record(c, Attempt {
            webhook: hook, event: &event, attempt, status_code, error: logged.as_deref(), duration_ms,
        }).await))
        .await
    {
        tracing::error!(webhook = %hook, error = %e, "could not log a webhook attempt");
    }
    match error {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_covers_the_time_and_the_body() {
        let a = super::signature("s3cret", 1_700_000_000, b"{\"seq\":1}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, super::signature("s3cret", 1_700_000_001, b"{\"seq\":1}"));
        assert_ne!(a, super::signature("s3cret", 1_700_000_000, b"{\"seq\":2}"));
        assert_ne!(a, super::signature("other", 1_700_000_000, b"{\"seq\":1}"));
    }
}
