//! The presence mirror's rules, driven in virtual time.

use std::time::Duration;

use callbridge_engine::presence::{
    AlertReason, MirrorConfig, MirrorRecord, PresenceInput, PresenceMirror, PresenceOutput,
};
use callbridge_model::{
    Activity, Availability, Presence, PresenceOrigin, PresenceSource, StatusText, UserRef,
};
use chrono::{DateTime, TimeDelta, Utc};

fn slack(n: u32) -> UserRef {
    UserRef::Slack {
        team: "T0001".parse().unwrap(),
        user: format!("U{n:04}").parse().unwrap(),
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
            platform: callbridge_model::Platform::Teams,
            origin: PresenceOrigin::Automatic,
            fingerprint: None,
        },
    }
}

fn slack_status(text: &str, emoji: &str) -> Presence {
    Presence {
        availability: Availability::PresenceUnknown,
        activity: None,
        status_text: (!text.is_empty()).then(|| StatusText::parse(text).unwrap()),
        status_emoji: (!emoji.is_empty()).then(|| emoji.to_owned()),
        expires_at: None,
        source: PresenceSource {
            platform: callbridge_model::Platform::Slack,
            origin: PresenceOrigin::User,
            fingerprint: None,
        },
    }
}

fn slack_huddle() -> Presence {
    Presence {
        availability: Availability::Busy,
        activity: Some(Activity::parse("InACall").unwrap()),
        ..slack_status("", "")
    }
}

fn slack_dnd() -> Presence {
    Presence {
        availability: Availability::DoNotDisturb,
        ..slack_status("", "")
    }
}

/// How Slack reports callbridge's write back: the adapter recognises it.
fn slack_echo(written: &Presence) -> Presence {
    Presence {
        availability: Availability::PresenceUnknown,
        activity: None,
        source: written.source.clone(),
        ..written.clone()
    }
}

/// How Graph reports callbridge's write back: the `setPresence` pair, origin automatic.
fn teams_echo(written: &Presence) -> Presence {
    let (availability, activity) = match written.availability {
        Availability::Busy => (Availability::Busy, "InACall"),
        Availability::DoNotDisturb => (Availability::DoNotDisturb, "Presenting"),
        Availability::Away => (Availability::Away, "Away"),
        _ => (Availability::Available, "Available"),
    };
    teams_state(availability, activity)
}

struct Harness {
    mirror: PresenceMirror,
    now: DateTime<Utc>,
    writes: Vec<(UserRef, Presence)>,
    alerts: Vec<(UserRef, AlertReason)>,
    saves: Vec<(UserRef, MirrorRecord)>,
    deadline: DateTime<Utc>,
}

impl Harness {
    fn new(config: MirrorConfig) -> Self {
        let mut harness = Self {
            mirror: PresenceMirror::new(config),
            now: DateTime::parse_from_rfc3339("2025-01-06T09:00:00Z")
                .unwrap()
                .to_utc(),
            writes: Vec::new(),
            alerts: Vec::new(),
            saves: Vec::new(),
            deadline: DateTime::<Utc>::MAX_UTC,
        };
        harness.feed(PresenceInput::Link {
            slack: slack(1),
            teams: teams(1),
            mirror: true,
        });
        harness
    }

    fn feed(&mut self, input: PresenceInput) {
        self.mirror.handle_input(input, self.now);
        loop {
            match self.mirror.poll_output() {
                PresenceOutput::Write { target, presence } => self.writes.push((target, presence)),
                PresenceOutput::Alert { user, reason } => self.alerts.push((user, reason)),
                PresenceOutput::Save { target, record } => self.saves.push((target, record)),
                PresenceOutput::Timeout(at) => {
                    self.deadline = at;
                    break;
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
    }

    fn change(&mut self, user: UserRef, presence: Presence) {
        self.feed(PresenceInput::Changed { user, presence });
    }

    /// Moves virtual time on by `millis`, firing every deadline on the way.
    fn advance(&mut self, millis: i64) {
        let end = self.now + TimeDelta::milliseconds(millis);
        while self.deadline <= end {
            self.now = self.now.max(self.deadline);
            self.feed(PresenceInput::Timeout);
        }
        self.now = end;
    }

    fn take_writes(&mut self) -> Vec<(UserRef, Presence)> {
        std::mem::take(&mut self.writes)
    }
}

fn text(presence: &Presence) -> Option<&str> {
    presence.status_text.as_ref().map(StatusText::as_str)
}

fn activity(presence: &Presence) -> Option<&str> {
    presence.activity.as_ref().map(Activity::as_str)
}

#[test]
fn a_teams_change_is_written_to_slack_after_the_coalesce_window_not_before() {
    let mut h = Harness::new(MirrorConfig::default());
    h.change(teams(1), teams_state(Availability::Busy, "InAMeeting"));
    assert_eq!(h.deadline, h.now + TimeDelta::seconds(2));
    h.advance(1_999);
    assert!(h.take_writes().is_empty());
    h.advance(1);
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1);
    let (target, presence) = &writes[0];
    assert_eq!(*target, slack(1));
    assert_eq!(presence.availability, Availability::Busy);
    assert_eq!(text(presence), Some("In a meeting"));
    assert_eq!(presence.status_emoji.as_deref(), Some(":calendar:"));
    assert_eq!(presence.source.origin, PresenceOrigin::Callbridge);
    assert_eq!(presence.source.platform, callbridge_model::Platform::Slack);
    let print = presence.source.fingerprint.as_ref().unwrap().as_str();
    assert!(print.starts_with("cb1:") && print.len() == 20, "{print}");
    let (saved_for, record) = h.saves.last().unwrap();
    assert_eq!(*saved_for, slack(1));
    assert_eq!(record.last_written.as_ref(), Some(presence));
}

#[test]
fn teams_states_map_to_the_documented_slack_values() {
    let cases = [
        (
            Availability::Busy,
            "InACall",
            Availability::Busy,
            Some("In a call"),
        ),
        (
            Availability::Busy,
            "InAConferenceCall",
            Availability::Busy,
            Some("In a call"),
        ),
        (
            Availability::Busy,
            "Focusing",
            Availability::Busy,
            Some("Busy"),
        ),
        (
            Availability::DoNotDisturb,
            "Presenting",
            Availability::DoNotDisturb,
            Some("Do not disturb"),
        ),
        (Availability::Away, "Away", Availability::Away, None),
        (
            Availability::BeRightBack,
            "BeRightBack",
            Availability::Away,
            None,
        ),
        (Availability::Offline, "OffWork", Availability::Away, None),
        (
            Availability::Available,
            "Available",
            Availability::Available,
            None,
        ),
    ];
    for (availability, act, want, want_text) in cases {
        let mut h = Harness::new(MirrorConfig::default());
        h.change(teams(1), teams_state(availability, act));
        h.advance(2_000);
        let writes = h.take_writes();
        assert_eq!(writes.len(), 1, "{availability:?}/{act}");
        assert_eq!(writes[0].1.availability, want, "{availability:?}/{act}");
        assert_eq!(text(&writes[0].1), want_text, "{availability:?}/{act}");
    }
}

#[test]
fn slack_changes_are_written_to_teams_after_the_window() {
    let cases = [
        (slack_huddle(), Availability::Busy, Some("InACall"), None),
        (
            slack_status("In a call", ":phone:"),
            Availability::Busy,
            Some("InACall"),
            None,
        ),
        (
            slack_dnd(),
            Availability::DoNotDisturb,
            Some("DoNotDisturb"),
            None,
        ),
        (
            slack_status("Dentist", ":calendar:"),
            Availability::Busy,
            Some("InAMeeting"),
            Some("Dentist"),
        ),
        (
            slack_status("", ""),
            Availability::Available,
            Some("Available"),
            None,
        ),
        (
            slack_status("Lunch", ":hamburger:"),
            Availability::PresenceUnknown,
            None,
            Some("Lunch"),
        ),
    ];
    for (change, availability, act, line) in cases {
        let mut h = Harness::new(MirrorConfig::default());
        h.change(slack(1), change.clone());
        h.advance(1_999);
        assert!(h.take_writes().is_empty());
        h.advance(1);
        let writes = h.take_writes();
        assert_eq!(writes.len(), 1, "{change:?}");
        assert_eq!(writes[0].0, teams(1));
        assert_eq!(writes[0].1.availability, availability, "{change:?}");
        assert_eq!(activity(&writes[0].1), act, "{change:?}");
        assert_eq!(text(&writes[0].1), line, "{change:?}");
        assert_eq!(
            writes[0].1.source.platform,
            callbridge_model::Platform::Teams
        );
    }
}

#[test]
fn a_burst_of_five_changes_becomes_one_write_of_the_last() {
    let mut h = Harness::new(MirrorConfig::default());
    let burst = [
        (Availability::Busy, "InACall"),
        (Availability::Away, "Away"),
        (Availability::Busy, "InAMeeting"),
        (Availability::Available, "Available"),
        (Availability::DoNotDisturb, "Presenting"),
    ];
    for (availability, act) in burst {
        h.change(teams(1), teams_state(availability, act));
        h.advance(300);
    }
    h.advance(5_000);
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].1.availability, Availability::DoNotDisturb);
}

#[test]
fn echoes_are_never_mirrored_back() {
    let mut h = Harness::new(MirrorConfig::default());
    // Teams -> Slack, then Slack's echo.
    h.change(teams(1), teams_state(Availability::Busy, "InAMeeting"));
    h.advance(2_000);
    let (_, written) = h.take_writes().remove(0);
    h.change(slack(1), slack_echo(&written));
    // The same fingerprint reported without the origin is recognised as well.
    let mut relabelled = slack_echo(&written);
    relabelled.source.origin = PresenceOrigin::User;
    relabelled.status_text = None;
    h.change(slack(1), relabelled);
    h.advance(10_000);
    assert!(h.take_writes().is_empty());

    // Slack -> Teams, then Graph's echo (no fingerprint: recognised by the pair written).
    h.change(slack(1), slack_huddle());
    h.advance(2_000);
    let (target, written) = h.take_writes().remove(0);
    assert_eq!(target, teams(1));
    h.change(teams(1), teams_echo(&written));
    h.advance(10_000);
    assert!(h.take_writes().is_empty());
    assert_eq!(h.mirror.stats().echoes, 3);

    // A real Teams change afterwards is mirrored again.
    h.change(teams(1), teams_state(Availability::Away, "Away"));
    h.advance(2_000);
    assert_eq!(h.take_writes().len(), 1);
}

#[test]
fn a_status_set_by_hand_is_never_overwritten() {
    let mut h = Harness::new(MirrorConfig::default());
    h.change(slack(1), slack_status("Lunch", ":hamburger:"));
    h.advance(2_000);
    assert_eq!(h.take_writes().len(), 1, "the Slack status goes to Teams");
    for (availability, act) in [
        (Availability::Busy, "InACall"),
        (Availability::Away, "Away"),
        (Availability::Available, "Available"),
    ] {
        h.change(teams(1), teams_state(availability, act));
        h.advance(10_000);
    }
    assert!(h.take_writes().is_empty());
    assert_eq!(h.mirror.stats().protected, 3);
    // Once the person clears it, mirroring into Slack resumes.
    h.change(slack(1), slack_status("", ""));
    h.advance(10_000);
    assert_eq!(h.take_writes().len(), 1, "the clear goes to Teams");
    h.change(teams(1), teams_state(Availability::Busy, "InACall"));
    h.advance(2_000);
    assert_eq!(h.take_writes()[0].0, slack(1));
}

#[test]
fn a_call_shows_on_the_counterpart_and_restores_the_previous_value_while_still_ours() {
    let mut h = Harness::new(MirrorConfig::default());
    h.change(teams(1), teams_state(Availability::Busy, "InAMeeting"));
    h.advance(2_000);
    let (_, meeting) = h.take_writes().remove(0);
    h.change(slack(1), slack_echo(&meeting));

    h.feed(PresenceInput::OnCall {
        user: teams(1),
        on_call: true,
    });
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1, "written at once, not coalesced");
    let (target, on_call) = &writes[0];
    assert_eq!(*target, slack(1));
    assert_eq!(text(on_call), Some("In a call"));
    assert_eq!(
        on_call.status_emoji.as_deref(),
        Some(":telephone_receiver:")
    );
    assert_eq!(on_call.expires_at, None);
    let record = &h.saves.last().unwrap().1;
    assert_eq!(
        text(record.previous.as_ref().unwrap()),
        Some("In a meeting")
    );
    h.change(slack(1), slack_echo(on_call));

    h.advance(60_000);
    h.feed(PresenceInput::OnCall {
        user: teams(1),
        on_call: false,
    });
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(text(&writes[0].1), Some("In a meeting"));
    assert_ne!(writes[0].1.source.fingerprint, meeting.source.fingerprint);
    assert_eq!(h.saves.last().unwrap().1.previous, None);
}

#[test]
fn after_a_call_a_value_changed_by_hand_is_left_alone() {
    let mut h = Harness::new(MirrorConfig::default());
    h.feed(PresenceInput::OnCall {
        user: slack(1),
        on_call: true,
    });
    let (target, on_call) = h.take_writes().remove(0);
    assert_eq!(target, teams(1));
    assert_eq!(on_call.availability, Availability::Busy);
    assert_eq!(activity(&on_call), Some("InACall"));
    h.change(teams(1), teams_echo(&on_call));
    // The Teams user changes their state meanwhile.
    h.change(
        teams(1),
        teams_state(Availability::DoNotDisturb, "DoNotDisturb"),
    );
    h.advance(10_000);
    let mirrored = h.take_writes();
    assert_eq!(mirrored.len(), 1, "their own change still goes to Slack");
    assert_eq!(mirrored[0].0, slack(1));
    h.feed(PresenceInput::OnCall {
        user: slack(1),
        on_call: false,
    });
    h.advance(10_000);
    assert!(h.take_writes().is_empty());
}

#[test]
fn after_a_call_with_nothing_before_it_our_value_is_cleared() {
    let mut h = Harness::new(MirrorConfig::default());
    h.feed(PresenceInput::OnCall {
        user: slack(1),
        on_call: true,
    });
    let (_, on_call) = h.take_writes().remove(0);
    h.change(teams(1), teams_echo(&on_call));
    h.feed(PresenceInput::OnCall {
        user: slack(1),
        on_call: false,
    });
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1);
    // Teams: no app session any more, the person's own state shows again.
    assert_eq!(writes[0].1.availability, Availability::PresenceUnknown);
}

#[test]
fn when_both_sides_change_at_once_the_later_change_wins() {
    let mut h = Harness::new(MirrorConfig::default());
    h.change(teams(1), teams_state(Availability::Busy, "InAMeeting"));
    h.advance(1_000);
    h.change(slack(1), slack_huddle());
    h.advance(10_000);
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].0, teams(1), "the later (Slack) change wins");
    assert_eq!(h.mirror.stats().conflicts, 1);
}

#[test]
fn when_both_sides_change_at_the_same_instant_teams_wins() {
    for slack_first in [true, false] {
        let mut h = Harness::new(MirrorConfig::default());
        let (s, t) = (
            (slack(1), slack_huddle()),
            (teams(1), teams_state(Availability::Away, "Away")),
        );
        let order = if slack_first { [s, t] } else { [t, s] };
        for (user, presence) in order {
            h.change(user, presence);
        }
        h.advance(10_000);
        let writes = h.take_writes();
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert_eq!(writes[0].0, slack(1), "Teams's state is written to Slack");
    }
}

#[test]
fn the_breaker_trips_past_the_limit_alerts_once_and_resumes_after_the_cooldown() {
    let config = MirrorConfig::default();
    let limit = config.breaker_writes as usize;
    let mut h = Harness::new(config);
    let states = [
        (Availability::Busy, "InACall"),
        (Availability::Available, "Available"),
    ];
    for i in 0..limit + 4 {
        let (availability, act) = states[i % 2];
        h.change(teams(1), teams_state(availability, act));
        h.advance(3_000);
    }
    assert_eq!(h.take_writes().len(), limit);
    assert_eq!(h.alerts, vec![(slack(1), AlertReason::BreakerTripped)]);
    h.advance(14 * 60_000);
    assert!(h.take_writes().is_empty());
    h.advance(60_000);
    let writes = h.take_writes();
    assert_eq!(writes.len(), 1, "the latest state, once the cooldown ends");
    assert_eq!(writes[0].1.availability, Availability::Available);
    assert_eq!(h.alerts.len(), 1);
}

#[test]
fn paused_users_get_nothing_written_either_way() {
    let mut h = Harness::new(MirrorConfig::default());
    h.feed(PresenceInput::Pause {
        user: slack(1),
        paused: true,
    });
    assert!(h.saves.last().unwrap().1.paused);
    h.change(teams(1), teams_state(Availability::Busy, "InACall"));
    h.change(slack(1), slack_huddle());
    h.advance(10_000);
    h.feed(PresenceInput::OnCall {
        user: teams(1),
        on_call: true,
    });
    assert!(h.take_writes().is_empty());
    h.feed(PresenceInput::Pause {
        user: slack(1),
        paused: false,
    });
    h.change(teams(1), teams_state(Availability::Away, "Away"));
    h.advance(2_000);
    assert_eq!(h.take_writes().len(), 1);
}

#[test]
fn unlinked_not_opted_in_and_unknown_users_produce_nothing() {
    let mut h = Harness::new(MirrorConfig::default());
    h.feed(PresenceInput::Link {
        slack: slack(2),
        teams: teams(2),
        mirror: false,
    });
    assert_eq!(h.mirror.linked_users(), 2);
    h.change(teams(2), teams_state(Availability::Busy, "InACall"));
    h.change(slack(2), slack_huddle());
    h.change(teams(9), teams_state(Availability::Busy, "InACall"));
    h.feed(PresenceInput::Unlink { user: teams(1) });
    assert_eq!(h.mirror.linked_users(), 1);
    h.change(teams(1), teams_state(Availability::Busy, "InACall"));
    h.change(slack(1), slack_dnd());
    h.advance(10_000);
    assert!(h.take_writes().is_empty());
    assert_eq!(h.mirror.stats().unknown_users, 3);
    // Opting in later starts mirroring.
    h.feed(PresenceInput::Link {
        slack: slack(2),
        teams: teams(2),
        mirror: true,
    });
    h.change(teams(2), teams_state(Availability::Away, "Away"));
    h.advance(2_000);
    assert_eq!(h.take_writes().len(), 1);
}

#[test]
fn failing_writes_roll_back_and_alert_after_three() {
    let mut h = Harness::new(MirrorConfig::default());
    for (i, (availability, act)) in [
        (Availability::Busy, "InACall"),
        (Availability::Away, "Away"),
        (Availability::Busy, "InAMeeting"),
    ]
    .into_iter()
    .enumerate()
    {
        h.change(teams(1), teams_state(availability, act));
        h.advance(2_000);
        h.feed(PresenceInput::WriteResult {
            target: slack(1),
            ok: false,
        });
        let record = &h.saves.last().unwrap().1;
        assert_eq!(record.error_count, u32::try_from(i).unwrap() + 1);
        assert_eq!(record.last_written, None, "a failed write is not ours");
    }
    assert_eq!(h.alerts, vec![(slack(1), AlertReason::WritesFailing(3))]);
    h.feed(PresenceInput::WriteResult {
        target: slack(1),
        ok: true,
    });
    assert_eq!(h.saves.last().unwrap().1.error_count, 0);
}

#[test]
fn a_restored_record_still_recognises_our_value_after_a_restart() {
    let mut h = Harness::new(MirrorConfig::default());
    h.change(teams(1), teams_state(Availability::Busy, "InAMeeting"));
    h.advance(2_000);
    let (_, written) = h.take_writes().remove(0);
    let record = h.saves.last().unwrap().1.clone();

    let mut restarted = Harness::new(MirrorConfig::default());
    restarted.feed(PresenceInput::Restore {
        target: slack(1),
        record,
    });
    // After a restart the Slack adapter no longer knows the value was ours.
    let mut reported = slack_echo(&written);
    reported.source.origin = PresenceOrigin::User;
    reported.source.fingerprint = None;
    restarted.change(slack(1), reported);
    restarted.advance(10_000);
    assert!(restarted.take_writes().is_empty());
    restarted.change(teams(1), teams_state(Availability::Away, "Away"));
    restarted.advance(2_000);
    assert_eq!(restarted.take_writes().len(), 1, "ours, so not protected");
}

#[test]
fn mapping_tables_are_plain_data_first_match_wins() {
    let mut config = MirrorConfig {
        coalesce: Duration::from_secs(5),
        ..MirrorConfig::default()
    };
    config.teams_to_slack.insert(
        0,
        callbridge_engine::presence::TeamsToSlackRule {
            availability: Availability::Busy,
            activity: None,
            text: Some("Unavailable".to_owned()),
            emoji: Some(":no_entry:".to_owned()),
            expiry: Some(Duration::from_secs(3_600)),
            dnd: false,
            away: false,
        },
    );
    let mut h = Harness::new(config);
    h.change(teams(1), teams_state(Availability::Busy, "InACall"));
    h.advance(4_999);
    assert!(h.take_writes().is_empty());
    h.advance(1);
    let (_, written) = h.take_writes().remove(0);
    assert_eq!(text(&written), Some("Unavailable"));
    // The expiry counts from the change on Teams.
    assert_eq!(
        written.expires_at,
        Some(h.now - TimeDelta::seconds(5) + TimeDelta::hours(1))
    );
}
