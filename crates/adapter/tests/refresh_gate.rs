//! Single-flight refresh: many callers, one refresh; failures are not cached.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use callbridge_adapter::AdapterError;
use callbridge_adapter::client::RefreshGate;

/// A token with a version; "fresh" means at least the version the caller needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Token(u32);

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_callers_on_a_stale_value_cause_one_refresh() {
    let gate: Arc<RefreshGate<&'static str, Token>> = Arc::default();
    let refreshes = Arc::new(AtomicU32::new(0));

    let callers: Vec<_> = (0..50)
        .map(|_| {
            let gate = Arc::clone(&gate);
            let refreshes = Arc::clone(&refreshes);
            tokio::spawn(async move {
                gate.get_or_refresh(
                    &"T0TEAM",
                    |token| token.0 >= 1,
                    || async {
                        let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                        // A token endpoint that takes its time, so every caller piles up.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok(Token(n))
                    },
                )
                .await
            })
        })
        .collect();

    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap(), Token(1));
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_fresh_value_is_served_without_refreshing() {
    let gate: RefreshGate<u8, Token> = RefreshGate::default();
    let first = gate
        .get_or_refresh(&1, |_| true, || async { Ok(Token(7)) })
        .await
        .unwrap();
    let second = gate
        .get_or_refresh(
            &1,
            |_| true,
            || async { Err(AdapterError::Bug("must not refresh".into())) },
        )
        .await
        .unwrap();
    assert_eq!((first, second), (Token(7), Token(7)));
}

#[tokio::test]
async fn a_stale_value_is_replaced() {
    let gate: RefreshGate<u8, Token> = RefreshGate::default();
    gate.get_or_refresh(&1, |_| true, || async { Ok(Token(1)) })
        .await
        .unwrap();
    let renewed = gate
        .get_or_refresh(&1, |token| token.0 >= 2, || async { Ok(Token(2)) })
        .await
        .unwrap();
    assert_eq!(renewed, Token(2));
    let cached = gate
        .get_or_refresh(&1, |token| token.0 >= 2, || async { Ok(Token(99)) })
        .await
        .unwrap();
    assert_eq!(cached, Token(2));
}

#[tokio::test]
async fn a_failed_refresh_is_not_cached_and_the_next_caller_tries_again() {
    let gate: RefreshGate<u8, Token> = RefreshGate::default();
    let error = gate
        .get_or_refresh(
            &1,
            |_| true,
            || async {
                Err(AdapterError::PlatformUnavailable {
                    method: "oauth.v2.access".into(),
                    reason: "HTTP 503".into(),
                    retry_after: None,
                })
            },
        )
        .await
        .unwrap_err();
    assert!(error.is_retryable());

    let attempts = AtomicU32::new(0);
    let token = gate
        .get_or_refresh(
            &1,
            |_| true,
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Ok(Token(3))
            },
        )
        .await
        .unwrap();
    assert_eq!(token, Token(3));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn waiters_behind_a_failed_refresh_refresh_once_more_not_fifty_times() {
    let gate: Arc<RefreshGate<u8, Token>> = Arc::default();
    let refreshes = Arc::new(AtomicU32::new(0));
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let gate = Arc::clone(&gate);
            let refreshes = Arc::clone(&refreshes);
            tokio::spawn(async move {
                gate.get_or_refresh(
                    &1,
                    |_| true,
                    || async {
                        let n = refreshes.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if n == 0 {
                            Err(AdapterError::PlatformUnavailable {
                                method: "token".into(),
                                reason: "timeout".into(),
                                retry_after: None,
                            })
                        } else {
                            Ok(Token(n))
                        }
                    },
                )
                .await
            })
        })
        .collect();
    let mut failures = 0;
    for caller in callers {
        match caller.await.unwrap() {
            Ok(token) => assert_eq!(token, Token(1)),
            Err(_) => failures += 1,
        }
    }
    assert_eq!(
        failures, 1,
        "only the caller whose refresh failed sees the failure"
    );
    assert_eq!(refreshes.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn invalidate_forces_the_next_caller_to_refresh() {
    let gate: RefreshGate<u8, Token> = RefreshGate::default();
    gate.get_or_refresh(&1, |_| true, || async { Ok(Token(1)) })
        .await
        .unwrap();
    gate.invalidate(&1);
    let token = gate
        .get_or_refresh(&1, |_| true, || async { Ok(Token(2)) })
        .await
        .unwrap();
    assert_eq!(token, Token(2));
}

#[tokio::test(start_paused = true)]
async fn keys_refresh_independently() {
    let gate: Arc<RefreshGate<u8, Token>> = Arc::default();
    let release = Arc::new(tokio::sync::Notify::new());
    let slow = {
        let gate = Arc::clone(&gate);
        let release = Arc::clone(&release);
        tokio::spawn(async move {
            gate.get_or_refresh(
                &1,
                |_| true,
                || async move {
                    release.notified().await;
                    Ok(Token(1))
                },
            )
            .await
        })
    };
    tokio::task::yield_now().await;
    // Key 2 is served while key 1's refresh hangs.
    let other = gate
        .get_or_refresh(&2, |_| true, || async { Ok(Token(2)) })
        .await
        .unwrap();
    assert_eq!(other, Token(2));
    release.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), Token(1));
}
