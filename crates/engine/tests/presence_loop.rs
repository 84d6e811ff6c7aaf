//! LOOP-01 as a property: random changes made by people on both sides of a pair, each write
//! answered by its platform's echo, give exactly one write per change and no write-back.

use callbridge_engine::presence::{MirrorConfig, PresenceInput, PresenceMirror, PresenceOutput};
use callbridge_model::{
    Activity, Availability, Platform, Presence, PresenceOrigin, PresenceSource, UserRef,
};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const CHANGES_PER_SIDE: usize = 100;

const TEAMS_STATES: [(Availability, &str); 8] = [
    (Availability::Busy, "InACall"),
    (Availability::Busy, "InAMeeting"),
    (Availability::Busy, "Focusing"),
    (Availability::DoNotDisturb, "Presenting"),
    (Availability::Away, "Away"),
    (Availability::BeRightBack, "BeRightBack"),
    (Availability::Available, "Available"),
    (Availability::Offline, "OffWork"),
];

fn slack_user() -> UserRef {
    UserRef::Slack {
        team: "T0001".parse().unwrap(),
        user: "U0001".parse().unwrap(),
    }
}

fn teams_user() -> UserRef {
    UserRef::Teams {
        tenant: "00000000-0000-0000-0000-0000000000aa".parse().unwrap(),
        user: "00000000-0000-0000-0000-000000000001".parse().unwrap(),
    }
}

fn presence(platform: Platform, availability: Availability, activity: Option<&str>) -> Presence {
    Presence {
        availability,
        activity: activity.map(|a| Activity::parse(a).unwrap()),
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: PresenceSource {
            platform,
            origin: match platform {
                Platform::Teams => PresenceOrigin::Automatic,
                _ => PresenceOrigin::User,
            },
            fingerprint: None,
        },
    }
}

/// What a person does in Slack that callbridge may mirror and later overwrite: join or
/// leave a huddle (a hand-set status would, rightly, stop Teams -> Slack writes).
fn slack_change(huddle: bool) -> Presence {
    if huddle {
        presence(Platform::Slack, Availability::Busy, Some("InACall"))
    } else {
        presence(Platform::Slack, Availability::PresenceUnknown, None)
    }
}

/// The platform's report of callbridge's write, as each adapter produces it.
fn echo(written: &Presence) -> Presence {
    match written.source.platform {
        Platform::Slack => Presence {
            availability: Availability::PresenceUnknown,
            activity: None,
            ..written.clone()
        },
        _ => {
            let (availability, activity) = match written.availability {
                Availability::Busy => (Availability::Busy, "InACall"),
                Availability::DoNotDisturb => (Availability::DoNotDisturb, "Presenting"),
                Availability::Away => (Availability::Away, "Away"),
                Availability::Available => (Availability::Available, "Available"),
                _ => (Availability::Offline, "Offline"),
            };
            presence(Platform::Teams, availability, Some(activity))
        }
    }
}

fn drain(mirror: &mut PresenceMirror) -> (Vec<(UserRef, Presence)>, DateTime<Utc>) {
    let mut writes = Vec::new();
    loop {
        match mirror.poll_output() {
            PresenceOutput::Write { target, presence } => writes.push((target, presence)),
            PresenceOutput::Timeout(at) => return (writes, at),
            PresenceOutput::Alert { user, reason } => panic!("alert for {user:?}: {reason:?}"),
            _ => {}
        }
    }
}

/// One step: which side changes, a choice of state, and the gap before the next step.
fn steps() -> impl Strategy<Value = Vec<(bool, usize, i64)>> {
    let sides: Vec<bool> = (0..2 * CHANGES_PER_SIDE).map(|i| i % 2 == 0).collect();
    (
        Just(sides).prop_shuffle(),
        prop::collection::vec((0..TEAMS_STATES.len(), 10_i64..60), 2 * CHANGES_PER_SIDE),
    )
        .prop_map(|(sides, picks)| {
            sides
                .into_iter()
                .zip(picks)
                .map(|(teams, (pick, gap))| (teams, pick, gap))
                .collect()
        })
}

proptest! {
    #![proptest_config(Config {
        cases: 24,
        rng_seed: RngSeed::Fixed(0x00c0_ffee),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn every_change_is_written_once_and_no_echo_is_written_back(steps in steps()) {
        let mut mirror = PresenceMirror::new(MirrorConfig::default());
        let mut now = DateTime::parse_from_rfc3339("2025-01-06T09:00:00Z").unwrap().to_utc();
        mirror.handle_input(
            PresenceInput::Link { slack: slack_user(), teams: teams_user(), mirror: true },
            now,
        );
        let (mut last_teams, mut last_slack): (Option<Presence>, Option<Presence>) = (None, None);
        let (mut to_slack, mut to_teams) = (0, 0);
        for (teams_side, pick, gap) in steps {
            // A person's change differs from what their platform showed last.
            let (user, change) = if teams_side {
                let mut i = pick;
                let mut p;
                loop {
                    let (a, act) = TEAMS_STATES[i % TEAMS_STATES.len()];
                    p = presence(Platform::Teams, a, Some(act));
                    if last_teams.as_ref() != Some(&p) { break; }
                    i += 1;
                }
                (teams_user(), p)
            } else {
                let mut p = slack_change(pick % 2 == 0);
                if last_slack.as_ref() == Some(&p) {
                    p = slack_change(pick % 2 != 0);
                }
                (slack_user(), p)
            };
            if teams_side { last_teams = Some(change.clone()) } else { last_slack = Some(change.clone()) }
            mirror.handle_input(PresenceInput::Changed { user: user.clone(), presence: change }, now);
            let (writes, deadline) = drain(&mut mirror);
            prop_assert!(writes.is_empty(), "written before the coalesce window ended");
            now = deadline;
            mirror.handle_input(PresenceInput::Timeout, now);
            let (writes, _) = drain(&mut mirror);
            prop_assert_eq!(writes.len(), 1, "one write per change");
            let (target, written) = &writes[0];
            prop_assert_ne!(target, &user, "a change is never written back to its own side");
            if target.platform() == Platform::Slack { to_slack += 1 } else { to_teams += 1 }
            // The platform reports the write back; it must produce nothing.
            now += TimeDelta::milliseconds(300);
            let reported = echo(written);
            if target.platform() == Platform::Slack { last_slack = Some(reported.clone()) } else { last_teams = Some(reported.clone()) }
            mirror.handle_input(PresenceInput::Changed { user: target.clone(), presence: reported }, now);
            mirror.handle_input(PresenceInput::WriteResult { target: target.clone(), ok: true }, now);
            now += TimeDelta::seconds(gap);
            mirror.handle_input(PresenceInput::Timeout, now);
            let (writes, _) = drain(&mut mirror);
            prop_assert!(writes.is_empty(), "an echo was written back: {:?}", writes);
        }
        prop_assert_eq!(to_slack, CHANGES_PER_SIDE);
        prop_assert_eq!(to_teams, CHANGES_PER_SIDE);
        prop_assert_eq!(mirror.stats().echoes, 2 * CHANGES_PER_SIDE as u64);
    }
}
