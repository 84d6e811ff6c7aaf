//! The properties themselves, one async function each; [`conformance_suite!`] wraps each in a
//! test. They panic with a message naming the property when the adapter breaks it.
//!
//! [`conformance_suite!`]: crate::conformance_suite

use std::time::{Duration, Instant};

use crate::error::AdapterError;
use crate::inbound::{Inbound, MemoryInbox, accept};

use super::sandbox::SandboxControl;
use super::target::{CommandCase, ConformanceTarget, Delivery, Forgery};

/// The `Retry-After` of the rate-limit test: short, but long enough to measure.
const RETRY_AFTER_SECS: u64 = 1;

/// A correctly signed delivery is answered 2xx and yields exactly the declared events.
pub async fn signed_request_is_accepted<T: ConformanceTarget + ?Sized>(target: &T) {
    let inbox = MemoryInbox::default();
    let delivery = valid_delivery(target, "Ev0CONF0001").await;
    let inbound = accepted(target, &inbox, &delivery, "a correctly signed delivery").await;
    assert_eq!(
        inbound.events, delivery.events,
        "a correctly signed delivery must yield the declared events"
    );
}

/// A forged delivery is refused as unauthenticated before anything is parsed or claimed: the
/// genuine delivery of the same event is accepted afterwards.
pub async fn forged_request_is_rejected<T: ConformanceTarget + ?Sized>(
    target: &T,
    forgery: Forgery,
) {
    let inbox = MemoryInbox::default();
    let event_id = "Ev0CONF0002";
    let forged = target.forged_event(event_id, forgery).await;
    match accept(target.adapter().as_ref(), &inbox, forged).await {
        Err(AdapterError::Unauthenticated(_)) => {}
        Err(other) => panic!("a {forgery:?} delivery must be Unauthenticated, got {other:?}"),
        Ok(inbound) => panic!(
            "a {forgery:?} delivery was accepted (reply {}, {} events)",
            inbound.reply.status,
            inbound.events.len()
        ),
    }
    let genuine = valid_delivery(target, event_id).await;
    let inbound = accepted(
        target,
        &inbox,
        &genuine,
        "the genuine delivery after a forged one",
    )
    .await;
    assert_eq!(
        inbound.events, genuine.events,
        "a rejected {forgery:?} delivery must not mark its event as seen"
    );
}

/// The platform's retry of an event yields nothing new; another event still does.
pub async fn replayed_event_is_deduplicated<T: ConformanceTarget + ?Sized>(target: &T) {
    let inbox = MemoryInbox::default();
    let first = valid_delivery(target, "Ev0CONF0003").await;
    let inbound = accepted(target, &inbox, &first, "the first delivery").await;
    assert_eq!(
        inbound.events, first.events,
        "the first delivery must yield its events"
    );

    let retry = valid_delivery(target, "Ev0CONF0003").await;
    let inbound = accepted(target, &inbox, &retry, "a retried delivery").await;
    assert!(
        inbound.events.is_empty(),
        "a retried delivery must yield no events, got {:?}",
        inbound.events
    );

    let other = valid_delivery(target, "Ev0CONF0004").await;
    let inbound = accepted(target, &inbox, &other, "another event").await;
    assert_eq!(
        inbound.events, other.events,
        "another event must not be taken for a retry"
    );
}

/// An event type the adapter does not know is acknowledged, so the platform does not retry it
/// or disable the subscription, and yields nothing.
pub async fn unknown_event_type_is_acked_and_ignored<T: ConformanceTarget + ?Sized>(target: &T) {
    let inbox = MemoryInbox::default();
    let request = target.unknown_event().await;
    let inbound = accept(target.adapter().as_ref(), &inbox, request)
        .await
        .unwrap_or_else(|error| panic!("an unknown event type must be acknowledged, got {error}"));
    assert!(
        inbound.reply.status.is_success(),
        "an unknown event type must be answered 2xx, got {}",
        inbound.reply.status
    );
    assert!(
        inbound.events.is_empty(),
        "an unknown event type must yield no events, got {:?}",
        inbound.events
    );
}

/// Every command case executes and takes effect on the sandbox.
pub async fn commands_round_trip<T: ConformanceTarget + ?Sized>(target: &T) {
    let cases = target.command_cases().await;
    assert!(!cases.is_empty(), "the target declares no command cases");
    for case in cases {
        run(target, case, "with the platform healthy").await;
    }
}

/// A 429 with `Retry-After` on a command's route is waited out and the command succeeds, for
/// an idempotent and a non-idempotent command alike (a 429 was not processed).
pub async fn rate_limit_is_honoured<T: ConformanceTarget + ?Sized>(target: &T) {
    let mut cases = target.command_cases().await;
    let mut tried = 0;
    for idempotent in [true, false] {
        let Some(case) = take(&mut cases, |case| case.idempotent == idempotent) else {
            continue;
        };
        let control = control_for(target, &case);
        control.clear().await;
        control
            .rate_limit(&case.path_prefix, RETRY_AFTER_SECS, 1)
            .await;
        let name = case.name.clone();
        let prefix = case.path_prefix.clone();
        let elapsed = run(target, case, "after a 429").await;
        let remaining = control.remaining(&prefix).await;
        control.clear().await;
        assert_eq!(
            remaining, None,
            "{name}: no request reached {prefix}, so the rate-limit fault never hit it"
        );
        assert!(
            elapsed >= Duration::from_secs(RETRY_AFTER_SECS),
            "{name}: resent after {elapsed:?}, before the {RETRY_AFTER_SECS} s Retry-After"
        );
        tried += 1;
    }
    assert!(tried > 0, "the target declares no command cases");
}

/// A 503 on an idempotent command's route is retried and the command succeeds.
pub async fn server_error_is_retried_when_idempotent<T: ConformanceTarget + ?Sized>(target: &T) {
    let mut cases = target.command_cases().await;
    let case = take(&mut cases, |case| case.idempotent)
        .unwrap_or_else(|| panic!("the target declares no idempotent command case"));
    let control = control_for(target, &case);
    control.clear().await;
    control.fail_with(&case.path_prefix, 503, 1).await;
    let name = case.name.clone();
    let prefix = case.path_prefix.clone();
    run(target, case, "after a 503").await;
    let remaining = control.remaining(&prefix).await;
    control.clear().await;
    assert_eq!(
        remaining, None,
        "{name}: no request reached {prefix}, so the 503 never hit it"
    );
}

/// A 503 on a non-idempotent command's route fails the command retryably after exactly one
/// request, since the platform may have acted before failing.
pub async fn server_error_is_not_retried_when_not_idempotent<T: ConformanceTarget + ?Sized>(
    target: &T,
) {
    let mut cases = target.command_cases().await;
    let case = take(&mut cases, |case| !case.idempotent)
        .unwrap_or_else(|| panic!("the target declares no non-idempotent command case"));
    let control = control_for(target, &case);
    control.clear().await;
    control.fail_with(&case.path_prefix, 503, 2).await;
    let result = target.adapter().execute(case.command.clone()).await;
    let remaining = control.remaining(&case.path_prefix).await;
    control.clear().await;
    assert_eq!(
        remaining,
        Some(1),
        "{}: exactly one request may reach {} (a non-idempotent command is not resent; \
         the rule had two uses)",
        case.name,
        case.path_prefix
    );
    match result {
        Err(error) if error.is_retryable() => {}
        Err(error) => panic!("{}: a 503 must fail retryably, got {error:?}", case.name),
        Ok(outcome) => panic!("{}: succeeded despite a 503 ({outcome:?})", case.name),
    }
}

/// Executes a case and runs its check; how long the execution took.
async fn run<T: ConformanceTarget + ?Sized>(
    target: &T,
    case: CommandCase,
    circumstance: &str,
) -> Duration {
    let CommandCase {
        name,
        command,
        check,
        ..
    } = case;
    let started = Instant::now();
    let outcome = target
        .adapter()
        .execute(command)
        .await
        .unwrap_or_else(|error| panic!("{name}: failed {circumstance}: {error:?}"));
    let elapsed = started.elapsed();
    if let Err(problem) = check(outcome).await {
        panic!("{name}: did not take effect {circumstance}: {problem}");
    }
    elapsed
}

/// The first case that `matches`, taken out of the list (a case owns its check).
fn take(
    cases: &mut Vec<CommandCase>,
    matches: impl Fn(&CommandCase) -> bool,
) -> Option<CommandCase> {
    let index = cases.iter().position(matches)?;
    Some(cases.remove(index))
}

fn control_for<T: ConformanceTarget + ?Sized>(target: &T, case: &CommandCase) -> SandboxControl {
    let url = case
        .sandbox_url
        .clone()
        .unwrap_or_else(|| target.sandbox_url());
    SandboxControl::new(&url)
}

/// The target's signed delivery for `event_id`, checked to be usable by the suite.
async fn valid_delivery<T: ConformanceTarget + ?Sized>(target: &T, event_id: &str) -> Delivery {
    let delivery = target.signed_event(event_id).await;
    assert!(
        !delivery.events.is_empty(),
        "the target's delivery for {event_id} declares no events"
    );
    assert!(
        delivery
            .events
            .iter()
            .all(|event| event.event_id().is_some()),
        "the target's delivery for {event_id} declares an event without an event id"
    );
    delivery
}

/// Runs a delivery through [`accept`], requiring a 2xx reply.
async fn accepted<T: ConformanceTarget + ?Sized>(
    target: &T,
    inbox: &MemoryInbox,
    delivery: &Delivery,
    what: &str,
) -> Inbound {
    let inbound = accept(target.adapter().as_ref(), inbox, delivery.request.clone())
        .await
        .unwrap_or_else(|error| panic!("{what} must be accepted, got {error:?}"));
    assert!(
        inbound.reply.status.is_success(),
        "{what} must be answered 2xx, got {}",
        inbound.reply.status
    );
    inbound
}
