//! `kill -9` during writes leaves no half-written record: every call has all of its legs, and
//! every ended call has exactly its CDR. Runs against SQLite and PostgreSQL.
//!
//! The test re-runs its own binary as a child that writes calls as fast as it can, kills it with
//! SIGKILL mid-stream, then inspects the database.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callbridge_model::{
    CallId, CallState, Cdr, Direction, Leg, LegId, LegState, TenantId, TerminationCause, UserRef,
};
use callbridge_store::{CallStore, SqlStore};
use chrono::Utc;
use common::{TestDb, keyring};
use sqlx::Row;

const CHILD_URL: &str = "CALLBRIDGE_CRASH_CHILD_URL";

fn call_with_legs(n: usize) -> callbridge_model::Call {
    let legs = (0..n)
        .map(|i| Leg {
            id: LegId::generate(),
            user: UserRef::Slack {
                team: "T0123ABCD".parse().unwrap(),
                user: format!("U{i:08}").parse().unwrap(),
            },
            state: LegState::Ringing,
            platform_ref: None,
        })
        .collect();
    callbridge_model::Call {
        id: CallId::generate(),
        tenant: TenantId::generate(),
        direction: Direction::TeamsToSlack,
        state: CallState::Ringing,
        legs,
        created_at: Utc::now(),
        answered_at: None,
        ended_at: None,
        termination: None,
    }
}

/// The child: writes until killed. Ignored unless started by the parent.
#[tokio::test]
#[ignore = "child process of the kill -9 tests"]
async fn crash_writer_child() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let store = SqlStore::connect(&url, keyring()).await.unwrap();
    for i in 0_usize.. {
        let mut call = call_with_legs(2 + i % 4);
        store.create_call(&call).await.unwrap();
        if i % 2 == 0 {
            call.state = CallState::Ended;
            call.ended_at = Some(Utc::now());
            call.termination = Some(TerminationCause::Normal);
            let cdr = Cdr {
                call_id: call.id,
                tenant: call.tenant,
                direction: call.direction,
                caller: call.legs[0].user.clone(),
                callee: call.legs[1].user.clone(),
                started_at: call.created_at,
                answered_at: None,
                ended_at: Utc::now(),
                cause: TerminationCause::Normal,
            };
            store.finish_call(&call, &cdr).await.unwrap();
        }
    }
}

async fn count_calls(url: &str) -> i64 {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM calls")
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    pool.close().await;
    count
}

async fn kill_9_mid_write_leaves_whole_records(db: &TestDb) {
    // Migrate first so the child only writes data.
    db.open(keyring()).await.close().await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_writer_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_URL, db.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while count_calls(&db.url()).await < 150 {
        assert!(Instant::now() < deadline, "child wrote too little");
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let store = db.open(keyring()).await;
    let pool = sqlx::AnyPool::connect(&db.url()).await.unwrap();
    let rows = sqlx::query(
        "SELECT c.id AS id, c.state AS state, c.leg_count AS leg_count, \
         (SELECT COUNT(*) FROM call_legs l WHERE l.call_id = c.id) AS legs, \
         (SELECT COUNT(*) FROM cdrs d WHERE d.call_id = c.id) AS cdrs FROM calls c",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(rows.len() >= 150);
    let mut ended = 0;
    for row in &rows {
        let id: String = row.try_get("id").unwrap();
        let leg_count: i64 = row.try_get("leg_count").unwrap();
        let legs: i64 = row.try_get("legs").unwrap();
        let cdrs: i64 = row.try_get("cdrs").unwrap();
        let state: String = row.try_get("state").unwrap();
        assert_eq!(leg_count, legs, "call {id} lost legs");
        assert_eq!(
            cdrs,
            i64::from(state == "ended"),
            "call {id} state {state} has {cdrs} CDRs"
        );
        let call = store.call(id.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(call.legs.len() as i64, legs);
        ended += cdrs;
    }
    assert!(ended > 0);
    assert_eq!(store.recent_cdrs(10_000).await.unwrap().len() as i64, ended);
    pool.close().await;
}

#[tokio::test]
async fn sqlite_kill_9_mid_write_leaves_whole_records() {
    kill_9_mid_write_leaves_whole_records(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_kill_9_mid_write_leaves_whole_records() {
    kill_9_mid_write_leaves_whole_records(&TestDb::postgres().await).await;
}
