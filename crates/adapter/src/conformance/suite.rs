//! [`conformance_suite!`](crate::conformance_suite): one `#[tokio::test]` per property of
//! [`checks`](super::checks), for one [`ConformanceTarget`](super::ConformanceTarget).

/// Expands to the conformance tests of one adapter: a module `conformance_suite` holding one
/// `#[tokio::test]` per property (see the [`conformance`](crate::conformance) module), so the
/// tests are named `conformance_suite::<property>`.
///
/// `$target` is an expression evaluating to a future of a
/// [`ConformanceTarget`](crate::conformance::ConformanceTarget) (typically an async
/// constructor that starts a sandbox); it is evaluated afresh in every test. The calling crate
/// needs `tokio` (with `macros` and `rt-multi-thread`) among its dev-dependencies.
///
/// To run the suite for two targets in one file, name a module for each:
/// `conformance_suite!(events_api, SlackConformance::events_api());`.
#[macro_export]
macro_rules! conformance_suite {
    ($target:expr $(,)?) => {
        $crate::conformance_suite!(conformance_suite, $target);
    };
    ($module:ident, $target:expr $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::__conformance_test!(signed_request_is_accepted, $target);
            $crate::__conformance_test!(
                unsigned_request_is_rejected,
                $target,
                forged_request_is_rejected,
                $crate::conformance::Forgery::Unsigned
            );
            $crate::__conformance_test!(
                request_signed_over_another_body_is_rejected,
                $target,
                forged_request_is_rejected,
                $crate::conformance::Forgery::SignedOverAnotherBody
            );
            $crate::__conformance_test!(
                stale_request_is_rejected,
                $target,
                forged_request_is_rejected,
                $crate::conformance::Forgery::Stale
            );
            $crate::__conformance_test!(
                request_from_the_future_is_rejected,
                $target,
                forged_request_is_rejected,
                $crate::conformance::Forgery::FromTheFuture
            );
            $crate::__conformance_test!(replayed_event_is_deduplicated, $target);
            $crate::__conformance_test!(unknown_event_type_is_acked_and_ignored, $target);
            $crate::__conformance_test!(commands_round_trip, $target);
            $crate::__conformance_test!(rate_limit_is_honoured, $target);
            $crate::__conformance_test!(server_error_is_retried_when_idempotent, $target);
            $crate::__conformance_test!(server_error_is_not_retried_when_not_idempotent, $target);
        }
    };
}

/// One test of [`conformance_suite!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ($property:ident, $target:expr) => {
        $crate::__conformance_test!($property, $target, $property);
    };
    ($name:ident, $target:expr, $check:ident $(, $arg:expr)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let target = $target.await;
            $crate::conformance::$check(&target $(, $arg)*).await;
        }
    };
}
