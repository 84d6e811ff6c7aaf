//! Whole-gateway load: N concurrent calls from Slack users to Teams users through the gateway
//! and both sandboxes, in one process. Signed slash commands go in through the Slack sandbox,
//! the gateway places SIP INVITEs through the Microsoft sandbox's Direct Routing proxies, the
//! virtual phones answer with a tone, a browser stand-in joins each call from its card, and
//! media flows both ways for the steady phase; then every browser hangs up.
//!
//! Measured: command → INVITE at the proxy, answer → first bridged audio packet at the
//! browser, and the gateway's CPU time over the steady phase (its own threads only, see
//! [`cpu`]), hence bridged calls per core of gateway CPU.

mod book;
mod call;
mod cpu;
pub(crate) mod report;
mod seeds;
mod world;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use callbridge_media::codec::Codec;
use callbridge_sandbox::microsoft::{Answer, PhoneBehaviour};
use tokio::sync::{oneshot, watch};

use self::book::Book;
use self::call::{CallResult, PHONE_HZ};
use self::cpu::{GATEWAY_RUNTIME, Group, Sample};
use self::world::{GatewayOptions, World};
use crate::Result;

pub(crate) use self::book::CALL_POLL;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Concurrent calls.
    pub(crate) calls: usize,
    /// The steady phase: every call bridged, media flowing.
    pub(crate) steady: Duration,
    /// Browsers offer only Opus, so the gateway transcodes to the phones' G.722; otherwise
    /// they offer G.722 and G.711 and it passes packets through.
    pub(crate) transcode: bool,
    /// Time between two calls' commands.
    pub(crate) ramp: Duration,
    /// How long each phone rings before answering: the browser joins meanwhile.
    pub(crate) answer_after: Duration,
    /// The gateway's media worker threads.
    pub(crate) media_workers: usize,
    /// Threads of the gateway's runtime.
    pub(crate) gateway_threads: usize,
}

/// What was measured.
pub(crate) struct Outcome {
    pub(crate) plan: Plan,
    /// One per call, in order.
    pub(crate) calls: Vec<CallResult>,
    /// CPU time per thread group over the steady phase.
    pub(crate) cpu: HashMap<Group, Duration>,
    /// Threads per group at the end of the steady phase.
    pub(crate) threads: HashMap<Group, usize>,
    /// How long the steady phase actually lasted.
    pub(crate) steady: Duration,
    /// Calls with audio crossing during the whole steady phase.
    pub(crate) bridged_in_steady: usize,
}

/// Runs the plan: a runtime for the gateway, one for everything else.
pub(crate) fn run(plan: Plan) -> Result<Outcome> {
    let gateway_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(plan.gateway_threads.max(1))
        .thread_name(GATEWAY_RUNTIME)
        .enable_all()
        .build()?;
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("loadgen-rt")
        .enable_all()
        .build()?;
    let outcome = load_rt.block_on(drive(plan, gateway_rt.handle().clone()));
    gateway_rt.shutdown_timeout(Duration::from_secs(5));
    load_rt.shutdown_timeout(Duration::from_secs(5));
    outcome
}

async fn drive(plan: Plan, gateway: tokio::runtime::Handle) -> Result<Outcome> {
    // One pair more than the calls: the warm-up call's.
    let seeds = seeds::seeds(plan.calls + 1)?;
    let options = GatewayOptions {
        media_workers: plan.media_workers,
    };
    let world = World::start(&seeds, &gateway, &options).await?;
    let phone = PhoneBehaviour {
        answer: Answer::AfterSecs {
            secs: plan.answer_after.as_secs_f64(),
        },
        tone_hz: Some(PHONE_HZ),
        ..PhoneBehaviour::default()
    };
    for pair in &seeds.pairs {
        world
            .microsoft
            .state()
            .set_phone_behaviour(&pair.teams_upn, phone.clone())?;
    }
    let book = Book::default();
    let (stop_book, book_stopped) = watch::channel(false);
    let keeper = tokio::spawn(book.clone().keep(
        world.microsoft.state().clone(),
        world.slack.state().clone(),
        book_stopped,
    ));
    let codecs = if plan.transcode {
        vec![Codec::Opus]
    } else {
        vec![Codec::G722, Codec::Pcmu, Codec::Pcma]
    };

    // The warm-up call opens the gateway's connections and fills its caches (tokens, the
    // directory, TLS to the proxies), so the measured calls see the gateway in service.
    let warm = seeds.pairs[plan.calls].clone();
    let (warm_tx, _) = oneshot::channel();
    let slack = world.slack.state().clone();
    let warmed = call::run(warm, codecs.clone(), slack, book.clone(), warm_tx, async {}).await;
    if let Some(failure) = warmed.failure {
        return Err(format!("the warm-up call failed: {failure}").into());
    }

    let (hang_up, released) = watch::channel(false);
    let mut settled = Vec::with_capacity(plan.calls);
    let mut tasks = Vec::with_capacity(plan.calls);
    for pair in seeds.pairs.iter().take(plan.calls).cloned() {
        let (tx, rx) = oneshot::channel();
        settled.push(rx);
        let mut released = released.clone();
        let release = async move {
            let _ = released.wait_for(|go| *go).await;
        };
        let slack = world.slack.state().clone();
        tasks.push(tokio::spawn(call::run(
            pair,
            codecs.clone(),
            slack,
            book.clone(),
            tx,
            release,
        )));
        tokio::time::sleep(plan.ramp).await;
    }
    for rx in settled {
        let _ = rx.await;
    }

    let (before, started) = (Sample::now(), Instant::now());
    tokio::time::sleep(plan.steady).await;
    let (after, steady) = (Sample::now(), started.elapsed());
    let _ = hang_up.send(true);
    let mut calls = Vec::with_capacity(tasks.len());
    for task in tasks {
        calls.push(task.await?);
    }
    // Every call settled before the phase began, so one that had connected then and still
    // heard both tones at its end was bridged throughout.
    let bridged_in_steady = calls
        .iter()
        .filter(|c| c.connected && c.heard_both_ways)
        .count();
    let _ = stop_book.send(true);
    let _ = keeper.await;
    world.stop().await?;
    Ok(Outcome {
        plan,
        calls,
        cpu: after.since(&before),
        threads: after.threads(),
        steady,
        bridged_in_steady,
    })
}

impl Outcome {
    /// The gateway's CPU time over the steady phase.
    pub(crate) fn gateway_cpu(&self) -> Duration {
        self.cpu
            .iter()
            .filter(|(g, _)| g.is_gateway())
            .map(|(_, d)| *d)
            .sum()
    }

    /// CPU time of one group over the steady phase.
    pub(crate) fn cpu_of(&self, group: Group) -> Duration {
        self.cpu.get(&group).copied().unwrap_or_default()
    }
}
