//! After a crash: every call the store still holds as live is over (its driver, media and SIP
//! dialogs died with the process). Each leg is hung up where its platform can still act on
//! it, and the call is closed with one CDR whose cause is `crash_recovered`.

use callbridge_model::{
    Call, CallState, Cdr, LegState, Platform, PlatformCommand, TerminationCause,
};
use callbridge_store::{CallStore, SqlStore, StoreError};
use chrono::{DateTime, Utc};

use crate::platforms::Platforms;

/// Closes every call left live by a previous run; returns how many.
pub(super) async fn recover(
    store: &SqlStore,
    platforms: &Platforms,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let orphans = store.live_calls().await?;
    for call in &orphans {
        hang_up_legs(platforms, call).await;
        let (closed, cdr) = close(call, now);
        match cdr {
            Some(cdr) => store.finish_call(&closed, &cdr).await?,
            // A record without both parties was never rung: close it without a CDR.
            None => store.update_call(&closed).await?,
        }
        metrics::counter!("callbridge_calls_ended_total", "cause" => "crash_recovered")
            .increment(1);
    }
    if !orphans.is_empty() {
        tracing::warn!(
            calls = orphans.len(),
            "calls left live by the previous run were closed"
        );
    }
    Ok(orphans.len())
}

/// Best effort: a Teams leg whose SIP dialog the record kept is ended from it by the new
/// trunk; other legs get a `HangUp` (an adapter that no longer knows the leg has nothing to
/// end).
async fn hang_up_legs(platforms: &Platforms, call: &Call) {
    for leg in call.legs.iter().filter(|leg| leg.state != LegState::Ended) {
        if let (Platform::Teams, Some(dialog), Some(teams)) =
            (leg.platform(), &leg.platform_ref, platforms.teams())
        {
            match teams.end_stale_leg(dialog).await {
                Ok(()) => tracing::info!("a Teams leg left by the previous run was hung up"),
                Err(error) => {
                    tracing::warn!(%error, "a Teams leg left by the previous run could not be hung up")
                }
            }
            continue;
        }
        let Some(adapter) = platforms.for_platform(leg.platform()) else {
            continue;
        };
        let command = PlatformCommand::HangUp {
            call: call.id,
            leg: leg.id,
            cause: TerminationCause::CrashRecovered,
        };
        if let Err(error) = adapter.execute(command).await {
            tracing::debug!(%error, "a leg left by the previous run could not be hung up");
        }
    }
}

/// The call as ended by recovery, and its CDR.
fn close(call: &Call, now: DateTime<Utc>) -> (Call, Option<Cdr>) {
    let mut closed = call.clone();
    closed.state = CallState::Ended;
    closed.ended_at = Some(now);
    closed.termination = Some(TerminationCause::CrashRecovered);
    for leg in &mut closed.legs {
        leg.state = LegState::Ended;
    }
    let cdr = match (call.legs.first(), call.legs.get(1)) {
        (Some(caller), Some(callee)) => Some(Cdr {
            call_id: call.id,
            tenant: call.tenant,
            direction: call.direction,
            caller: caller.user.clone(),
            callee: callee.user.clone(),
            started_at: call.created_at,
            answered_at: call.answered_at,
            ended_at: now,
            cause: TerminationCause::CrashRecovered,
        }),
        _ => None,
    };
    (closed, cdr)
}
