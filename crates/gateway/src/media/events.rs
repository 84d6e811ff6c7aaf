//! Turns the workers' media events into [`MediaNotice`]s for the call drivers: the worker's
//! call key and bridge side become the model's call and leg, and the notice goes into a
//! bounded tokio channel without ever blocking the worker thread (dropped and counted when
//! the channel is full).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use callbridge_media::MediaEvent;
use callbridge_media::shell::worker::{EventSink, MediaCallKey};
use callbridge_model::{CallId, LegId};
use tokio::sync::mpsc;

use super::MediaNotice;

/// Which model call and legs a worker's call key stands for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    /// The call.
    pub(super) call: CallId,
    /// The model legs on bridge side A and side B.
    pub(super) sides: [LegId; 2],
}

/// Routes of the bridged calls, shared between the service and the workers' sink.
pub(super) type Routes = Arc<RwLock<HashMap<MediaCallKey, Route>>>;

/// The sink every worker calls with its events.
pub(super) fn sink(routes: Routes, notices: mpsc::Sender<MediaNotice>) -> EventSink {
    Arc::new(move |key, event| {
        let route = routes.read().ok().and_then(|r| r.get(&key).copied());
        let Some(notice) = route.and_then(|r| notice(r, &event)) else {
            return;
        };
        if notices.try_send(notice).is_err() {
            metrics::counter!("callbridge_media_notices_dropped_total").increment(1);
        }
    })
}

/// The notice a media event of a routed call makes, if the drivers care about it.
fn notice(route: Route, event: &MediaEvent) -> Option<MediaNotice> {
    let call = route.call;
    let leg = |side: callbridge_media::event::Side| route.sides[side.index()];
    Some(match *event {
        MediaEvent::MediaTimeout { .. } => MediaNotice::Timeout { call },
        MediaEvent::OneWayAudio { silent } => MediaNotice::OneWayAudio {
            call,
            leg: leg(silent),
        },
        MediaEvent::OneWayAudioCleared { leg: side } => MediaNotice::OneWayAudioCleared {
            call,
            leg: leg(side),
        },
        MediaEvent::Dtmf {
            from,
            digit,
            duration,
        } => MediaNotice::Dtmf {
            call,
            leg: leg(from),
            digit,
            duration,
        },
        // A restarted stream is handled inside the bridge; nothing for the call to do.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use callbridge_media::event::Side;

    #[test]
    fn events_map_to_the_model_leg_on_that_side() {
        let route = Route {
            call: CallId::generate(),
            sides: [LegId::generate(), LegId::generate()],
        };
        assert_eq!(
            notice(route, &MediaEvent::OneWayAudio { silent: Side::B }),
            Some(MediaNotice::OneWayAudio {
                call: route.call,
                leg: route.sides[1]
            })
        );
        assert_eq!(
            notice(
                route,
                &MediaEvent::MediaTimeout {
                    leg: Side::A,
                    held: false
                }
            ),
            Some(MediaNotice::Timeout { call: route.call })
        );
        assert_eq!(
            notice(route, &MediaEvent::SourceChanged { leg: Side::A }),
            None
        );
    }

    #[test]
    fn a_full_channel_drops_the_notice_instead_of_blocking() {
        let key = MediaCallKey(7);
        let route = Route {
            call: CallId::generate(),
            sides: [LegId::generate(), LegId::generate()],
        };
        let routes: Routes = Arc::default();
        routes.write().expect("routes").insert(key, route);
        let (tx, mut rx) = mpsc::channel(1);
        let sink = sink(routes, tx);
        sink(key, MediaEvent::OneWayAudio { silent: Side::A });
        sink(key, MediaEvent::OneWayAudio { silent: Side::B });
        sink(MediaCallKey(8), MediaEvent::OneWayAudio { silent: Side::B });
        assert_eq!(
            rx.try_recv().ok(),
            Some(MediaNotice::OneWayAudio {
                call: route.call,
                leg: route.sides[0]
            })
        );
        assert!(
            rx.try_recv().is_err(),
            "the second notice was dropped, the unrouted one ignored"
        );
    }
}
