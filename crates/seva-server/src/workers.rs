//! Background work: claims due jobs from the durable queue and runs them. A job that fails
//! is retried with backoff by the queue; one that runs out of attempts is kept as dead and
//! its message shows the failure in the conversation. Nothing is dropped silently.

use std::sync::atomic::Ordering;
use std::time::Duration;

use seva_core::conversation::{Channel, Delivery};
use seva_core::time::Timestamp;
use seva_core::{JobId, MessageId};
use seva_store::jobs::{self, Job};
use seva_store::{messages, op, sla};

use crate::Shared;

pub async fn run(state: Shared) {
    let poll = Duration::from_millis(state.config.job_poll_millis);
    let mut events = state.store.subscribe();
    loop {
        // A read first: an empty queue, the usual case, costs the writer no transaction
        // (and the disk no sync) twice a second.
        let due = state
            .store
            .read(op!(c => jobs::anything_due(c, seva_store::now()).await))
            .await;
        let claimed = match due {
            Ok(true) => {
                state
                    .store
                    .write(op!(c => jobs::claim(c, seva_store::now(), 60, 32).await))
                    .await
            }
            Ok(false) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        match claimed {
            Ok(batch) if !batch.is_empty() => {
                for job in batch {
                    run_one(&state, job).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not claim jobs"),
        }
        sweep_timers(&state).await;
        if fan_out_webhooks(&state).await {
            continue;
        }
        // Wake early when a change may have queued a job; otherwise poll. Under load changes
        // come thousands a second: a short pause after the first gathers them, so that the
        // checks above run at most about fifty times a second, not once per change.
        if let Ok(Ok(_)) = tokio::time::timeout(poll, events.recv()).await {
            tokio::time::sleep(Duration::from_millis(20).min(poll)).await;
            events = events.resubscribe();
        }
    }
}

/// Hands new events to the webhooks that want them, as delivery jobs (a read first, so a
/// desk without webhooks costs the writer nothing).
/// Returns whether it queued any.
async fn fan_out_webhooks(state: &Shared) -> bool {
    use seva_store::webhooks;
    match state
        .store
        .read(op!(c => webhooks::anything_new(c).await))
        .await
    {
        Ok(true) => match state
            .store
            .write(op!(c => webhooks::fan_out(c, 500).await))
            .await
        {
            Ok(queued) => queued > 0,
            Err(e) => {
                tracing::warn!(error = %e, "handing events to webhooks failed");
                false
            }
        },
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the webhooks");
            false
        }
    }
}

/// Runs `$write` when `$check` (a read) says something is due, so that an idle desk costs
/// the writer nothing.
macro_rules! when_due {
    ($state:expr, $what:literal, $check:expr, $write:expr) => {
        match $state.store.read($check).await {
            Ok(true) => {
                if let Err(e) = $state.store.write($write).await {
                    tracing::warn!(error = %e, concat!($what, " failed"));
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, concat!($what, ": could not read what is due")),
        }
    };
}

/// The timers: SLA warnings and breaches, snoozed conversations waking up,
/// conversations that waited unowned too long, teams opening for the day, solved
/// conversations to close and closed ones past the retention period, idempotency keys a
/// day old, and notifications left unread long enough to be mailed.
async fn sweep_timers(state: &Shared) {
    let now = seva_store::now();
    when_due!(
        state,
        "SLA sweep",
        op!(c => sla::anything_due(c, now).await),
        op!(c => sla::sweep(c, now, 500).await)
    );
    when_due!(
        state,
        "waking snoozed conversations",
        op!(c => seva_store::conversations::anything_to_wake(c, now).await),
        op!(c => seva_store::conversations::wake_due(c, now, 500).await)
    );
    when_due!(
        state,
        "escalating unowned conversations",
        op!(c => seva_store::routing::anything_waiting_too_long(c, now).await),
        op!(c => seva_store::routing::escalate_waiting(c, now, 500).await)
    );
    when_due!(
        state,
        "handing out the queues of teams that opened",
        op!(c => seva_store::routing::opening_due(c, now).await),
        op!(c => seva_store::routing::hand_out_at_opening(c, now).await)
    );
    if let Some(cutoff) = days_before(now, state.config.close_solved_after_days) {
        when_due!(
            state,
            "closing conversations solved long ago",
            op!(c => seva_store::conversations::anything_to_close(c, cutoff).await),
            op!(c => seva_store::conversations::close_solved(c, cutoff, 500).await)
        );
    }
    if let Some(cutoff) = days_before(now, state.config.delete_closed_after_days) {
        when_due!(
            state,
            "deleting conversations closed longer than the retention period",
            op!(c => seva_store::privacy::anything_past_retention(c, cutoff).await),
            op!(c => seva_store::privacy::delete_past_retention(c, cutoff, 100).await)
        );
    }
    let forget = seva_store::idempotency::cutoff(now);
    when_due!(
        state,
        "forgetting idempotency keys older than a day",
        op!(c => seva_store::idempotency::anything_to_forget(c, forget).await),
        op!(c => seva_store::idempotency::forget_before(c, forget, 500).await)
    );
    crate::mail::notify::sweep(state).await;
}

/// `days` before `now`; none for 0, which a setting of days uses for "never".
fn days_before(now: Timestamp, days: u64) -> Option<Timestamp> {
    let span = i64::try_from(
        std::num::NonZeroU64::new(days)?
            .get()
            .saturating_mul(86_400_000_000),
    )
    .unwrap_or(i64::MAX);
    Some(Timestamp(now.micros().saturating_sub(span)))
}

async fn run_one(state: &Shared, job: Job) {
    let id = job.id;
    let outcome = match job.kind.as_str() {
        jobs::DELIVER => deliver(state, &job).await,
        seva_store::webhooks::DELIVER_WEBHOOK => crate::webhooks::deliver(state, &job).await,
        seva_store::bot::ANSWER => crate::bot::answer(state, &job).await,
        crate::mail::chat::EMAIL_UNREAD => crate::mail::chat::email_unread(state, &job).await,
        seva_store::notifications::EMAIL => crate::mail::notify::email(state, &job).await,
        seva_store::privacy::SWEEP_FILES => crate::files::sweep(state, &job).await,
        other => Err(format!("no worker knows jobs of kind {other:?}")),
    };
    match outcome {
        Ok(()) => {
            state.metrics.jobs_done.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = state
                .store
                .write(op!(c => jobs::complete(c, id).await))
                .await
            {
                tracing::error!(job = %id, error = %e, "could not mark a job done");
            }
        }
        Err(reason) => {
            state.metrics.jobs_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = %id, kind = %job.kind, %reason, "job attempt failed");
            record_failure(state, id, message_of(&job), reason).await;
        }
    }
}

fn conversation_of(job: &Job) -> Result<seva_core::ConversationId, String> {
    job.payload
        .get("conversation_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "the job names no conversation".to_string())
}

fn message_of(job: &Job) -> Option<MessageId> {
    job.payload
        .get("message_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
}

async fn record_failure(state: &Shared, id: JobId, message: Option<MessageId>, reason: String) {
    let r = state
        .store
        .write(op!(c => {
            let dead = jobs::fail(c, id, &reason, seva_store::now()).await?;
            if dead && let Some(m) = message {
                messages::set_delivery(c, m, Delivery::Failed, Some(&reason)).await?;
            }
            Ok(())
        }))
        .await;
    if let Err(e) = r {
        tracing::error!(job = %id, error = %e, "could not record a job failure");
    }
}

/// Delivers an agent's reply through the channel the customer used. Web-form
/// conversations are answered on the customer's own request page (and by email when the
/// form's inbox answers by email); API conversations through the API, so publishing there
/// is the delivery. Channels whose adapter is not part of this build
/// fail loudly, and the failure shows on the message.
async fn deliver(state: &Shared, job: &Job) -> Result<(), String> {
    let message = message_of(job).ok_or("the job names no message")?;
    let channel: Channel = job
        .payload
        .get("channel")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or("the job names no channel")?;
    match channel {
        Channel::Email => crate::mail::send::deliver(state, message).await,
        // Pushed to the visitor's chat session, and by email if it stays unread there.
        Channel::Chat => crate::mail::chat::delivered(state, message, conversation_of(job)?).await,
        // Kept for the customer's request page, and emailed when the form's inbox says so.
        Channel::WebForm => {
            crate::mail::web_form::answer(state, message, conversation_of(job)?).await
        }
        // Kept for the API's clients.
        Channel::Api => state
            .store
            .write(op!(c => messages::set_delivery(c, message, Delivery::Delivered, None).await))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "no {other} channel is configured to deliver this reply"
        )),
    }
}
