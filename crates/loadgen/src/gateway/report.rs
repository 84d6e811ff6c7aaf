//! Printing a gateway run's figures, one per line, and the media core's own figure from the
//! same invocation beside them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cpu::Group;
use super::{CALL_POLL, Outcome};

/// The `p` quantile (nearest rank: never below the true value) of `samples`, sorted here.
pub(crate) fn quantile(samples: &mut [Duration], p: f64) -> Option<Duration> {
    samples.sort_unstable();
    let rank = ((samples.len() as f64 * p).ceil() as usize).max(1);
    samples.get(rank - 1).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("n/a".to_owned(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    })
}

/// Prints the run's figures.
pub(crate) fn print(args: &str, o: &Outcome) {
    let requested = o.plan.calls;
    let connected = o.calls.iter().filter(|c| c.connected).count();
    let heard = o.calls.iter().filter(|c| c.heard_both_ways).count();
    let failed: Vec<&str> = o
        .calls
        .iter()
        .filter_map(|c| c.failure.as_deref())
        .collect();
    println!("run: {args}");
    println!(
        "gateway calls: {requested} requested, {connected} connected, {heard} heard each other both ways, {} failed",
        failed.len()
    );
    let mut codecs: BTreeMap<String, usize> = BTreeMap::new();
    for c in o.calls.iter().filter_map(|c| c.browser_codec) {
        *codecs.entry(format!("{c:?}")).or_default() += 1;
    }
    let codecs: Vec<String> = codecs.iter().map(|(c, n)| format!("{c} x{n}")).collect();
    println!(
        "browser legs: {} ({} offered)",
        codecs.join(", "),
        if o.plan.transcode {
            "Opus only"
        } else {
            "G722, PCMU, PCMA"
        }
    );
    let mut invite: Vec<Duration> = o.calls.iter().filter_map(|c| c.command_to_invite).collect();
    println!(
        "command -> INVITE at the Teams proxy: p50 {}, p99 {} (n={}, proxy's call log read every {} ms)",
        ms(quantile(&mut invite, 0.5)),
        ms(quantile(&mut invite, 0.99)),
        invite.len(),
        CALL_POLL.as_millis()
    );
    let mut audio: Vec<Duration> = o.calls.iter().filter_map(|c| c.answer_to_audio).collect();
    let late = o.calls.iter().filter(|c| c.joined_after_answer).count();
    println!(
        "answer -> first bridged audio at the browser: p50 {}, p99 {} (n={}; {late} of them with the browser's ICE/DTLS completing after the answer; answer read every {} ms)",
        ms(quantile(&mut audio, 0.5)),
        ms(quantile(&mut audio, 0.99)),
        audio.len(),
        CALL_POLL.as_millis()
    );
    let secs = o.steady.as_secs_f64();
    let gateway = o.gateway_cpu().as_secs_f64();
    let media = o.cpu_of(Group::MediaWorkers).as_secs_f64();
    println!(
        "steady phase: {} calls bridged throughout, {secs:.1} s",
        o.bridged_in_steady
    );
    let threads = |g: Group| o.threads.get(&g).copied().unwrap_or(0);
    println!(
        "gateway CPU: {gateway:.3} s = {:.1} % of a core (runtime {:.3} s on {} threads, media workers {media:.3} s on {}, store {:.3} s on {})",
        gateway * 100.0 / secs,
        o.cpu_of(Group::GatewayRuntime).as_secs_f64(),
        threads(Group::GatewayRuntime),
        threads(Group::MediaWorkers),
        o.cpu_of(Group::Store).as_secs_f64(),
        threads(Group::Store),
    );
    let per_core = |cpu: f64| {
        if cpu > 0.0 {
            format!("{:.0}", o.bridged_in_steady as f64 * secs / cpu)
        } else {
            "n/a".to_owned()
        }
    };
    println!(
        "bridged calls per core of gateway CPU: {} (media workers alone: {})",
        per_core(gateway),
        per_core(media)
    );
    println!(
        "load side CPU (sandboxes, virtual phones, browser stand-ins): {:.1} % of a core on {} threads",
        o.cpu_of(Group::Load).as_secs_f64() * 100.0 / secs,
        threads(Group::Load)
    );
    for failure in failed.iter().take(5) {
        println!("failed call: {failure}");
    }
}

/// Prints the media core's own figure: `calls` calls through one worker, as the
/// `passthrough`/`transcode` modes measure it.
pub(crate) fn print_media_core(path: &str, o: &crate::peers::Outcome) {
    let secs = o.plan.measure.as_secs_f64();
    let utilisation = o.worker.cpu.as_secs_f64() / secs;
    let per_core = if utilisation > 0.0 {
        format!("{:.0}", o.plan.calls as f64 / utilisation)
    } else {
        "n/a".to_owned()
    };
    println!(
        "media core alone ({path}, {} calls, {secs:.0} s, same invocation): worker {:.1} % of a core, calls per core {per_core}, loss {:.3} %",
        o.plan.calls,
        utilisation * 100.0,
        o.loss_percent()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        d.reverse();
        assert_eq!(quantile(&mut d, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(quantile(&mut d, 0.99), Some(Duration::from_millis(99)));
        let mut few = vec![Duration::from_millis(3), Duration::from_millis(1)];
        assert_eq!(quantile(&mut few, 0.99), Some(Duration::from_millis(3)));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
