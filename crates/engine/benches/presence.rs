//! Presence events per second through the mirror with 10 000 linked pairs, and the memory
//! held per linked pair (printed, to extrapolate to 1 000 000 pairs).

use std::hint::black_box;

use callbridge_engine::presence::{MirrorConfig, PresenceInput, PresenceMirror, PresenceOutput};
use callbridge_model::{
    Activity, Availability, Platform, Presence, PresenceOrigin, PresenceSource, UserRef,
};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PAIRS: u32 = 10_000;

fn slack(n: u32) -> UserRef {
    UserRef::Slack {
        team: "T0123ABCD".parse().unwrap(),
        user: format!("U{n:010}").parse().unwrap(),
    }
}

fn teams(n: u32) -> UserRef {
    UserRef::Teams {
        tenant: "00000000-0000-0000-0000-0000000000aa".parse().unwrap(),
        user: format!("00000000-0000-0000-0000-{n:012x}").parse().unwrap(),
    }
}

fn teams_state(availability: Availability, activity: &str) -> Presence {
    Presence {
        availability,
        activity: Some(Activity::parse(activity).unwrap()),
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: PresenceSource {
            platform: Platform::Teams,
            origin: PresenceOrigin::Automatic,
            fingerprint: None,
        },
    }
}

fn drain(mirror: &mut PresenceMirror) -> usize {
    let mut writes = 0;
    loop {
        match mirror.poll_output() {
            PresenceOutput::Write { .. } => writes += 1,
            PresenceOutput::Timeout(_) => return writes,
            _ => {}
        }
    }
}

fn linked(pairs: u32, now: DateTime<Utc>) -> PresenceMirror {
    let mut mirror = PresenceMirror::new(MirrorConfig::default());
    for n in 0..pairs {
        mirror.handle_input(
            PresenceInput::Link {
                slack: slack(n),
                teams: teams(n),
                mirror: true,
            },
            now,
        );
    }
    mirror
}

fn bench(c: &mut Criterion) {
    let start = DateTime::parse_from_rfc3339("2025-01-06T09:00:00Z")
        .unwrap()
        .to_utc();
    let states = [
        teams_state(Availability::Busy, "InACall"),
        teams_state(Availability::Available, "Available"),
        teams_state(Availability::Away, "Away"),
        teams_state(Availability::Busy, "InAMeeting"),
    ];

    // Memory: every pair has seen a change and holds a write of ours.
    let mut mirror = linked(PAIRS, start);
    let empty = mirror.memory_bytes_estimate();
    for n in 0..PAIRS {
        mirror.handle_input(
            PresenceInput::Changed {
                user: teams(n),
                presence: states[0].clone(),
            },
            start,
        );
    }
    mirror.handle_input(PresenceInput::Timeout, start + TimeDelta::seconds(2));
    let written = drain(&mut mirror);
    let full = mirror.memory_bytes_estimate();
    println!(
        "presence memory: {PAIRS} pairs linked {} B/pair, after a change and a write each {} B/pair \
         ({written} writes); 1,000,000 pairs ~ {} MB",
        empty / PAIRS as usize,
        full / PAIRS as usize,
        full / PAIRS as usize, // bytes per pair x 1e6 pairs / 1e6 = MB
    );

    // Throughput: one Teams change per event, round-robin over the pairs; every 2 s of
    // virtual time (one coalescing window) the due writes go out.
    let mut group = c.benchmark_group("presence");
    let batch = 10_000_u32;
    group.throughput(Throughput::Elements(u64::from(batch)));
    let teams_refs: Vec<UserRef> = (0..PAIRS).map(teams).collect();
    let mut now = start + TimeDelta::seconds(10);
    let mut round = 1_usize;
    group.bench_function("changes_through_10k_pairs", |b| {
        b.iter(|| {
            let state = &states[round % states.len()];
            for n in 0..batch {
                mirror.handle_input(
                    PresenceInput::Changed {
                        user: teams_refs[(n % PAIRS) as usize].clone(),
                        presence: state.clone(),
                    },
                    now,
                );
            }
            black_box(drain(&mut mirror));
            // Past the breaker window too, so the measurement is of writes, not of holds.
            now += TimeDelta::seconds(61);
            mirror.handle_input(PresenceInput::Timeout, now);
            black_box(drain(&mut mirror));
            round += 1;
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
