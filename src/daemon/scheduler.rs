//! When to scan which repository, and when to run an update pass.
//!
//! One task owns every decision, so there are no locks around the schedule:
//! - each repository is scanned on its interval, plus a random jitter so that many repositories
//!   with the same interval do not hit the registry together;
//! - a repository is never scanned twice at once: a trigger that arrives while its scan runs
//!   marks it for one more scan afterwards (per-target dedup);
//! - at most `max_concurrent_scans` scans run at once; the others wait in a queue;
//! - a failed scan is retried after an exponential backoff, capped; a success resets it;
//! - a scan asked for by a webhook is repeated shortly after (see [`RECHECKS`]): a registry may
//!   announce a push a moment before the tag shows in its listing (the distribution registry
//!   sends the event before it links the tag);
//! - a scan whose pick changed, or a trigger, asks for an update pass. Passes run one at a time
//!   (they edit and commit one git checkout) and requests made during a pass coalesce into one
//!   more pass. The first pass waits for the first round of scans, so it sees every repository.
//!
//! Idle, the task sleeps until the earliest due scan (a tokio timer) or a trigger: no polling.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The work the scheduler drives. The daemon implements it with the registry and `sync`; tests
/// implement it with a fake on the paused tokio clock.
pub trait Work: Send + Sync + 'static {
    /// Scans one repository. `Ok(true)` when a pick changed; `Err` when the scan failed (it was
    /// reported by the implementation).
    fn scan(&self, repository: &str) -> impl Future<Output = Result<bool, ()>> + Send;
    /// Runs one update pass.
    fn update(&self) -> impl Future<Output = ()> + Send;
    /// Every repository has been scanned once (successfully or not).
    fn ready(&self) {}
}

/// After a scan asked for by a webhook, the same repository is scanned again after each of these
/// delays (counted from the end of the previous scan), whatever it found.
pub const RECHECKS: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(2)];

/// A request from outside the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Scan this repository (by name) now: a webhook said it changed.
    Scan(String),
    /// Run an update pass: files changed.
    Update,
}

/// A repository to schedule.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in `repositories:`.
    pub name: String,
    /// Its scan interval.
    pub interval: Duration,
}

/// Scheduling parameters.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Scans in flight at once (at least 1).
    pub max_concurrent_scans: usize,
    /// Wait after the first failure; doubled per further failure.
    pub backoff_initial: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// Extra delay after an interval, as a fraction of it, drawn uniformly from `[0, jitter)`.
    pub jitter: f64,
    /// On shutdown, how long an update pass in flight may still run.
    pub shutdown_timeout: Duration,
    /// Seed of the jitter's random numbers (fixed in tests).
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_concurrent_scans: 4,
            backoff_initial: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            jitter: 0.1,
            shutdown_timeout: Duration::from_secs(30),
            seed: 0,
        }
    }
}

/// The wait after `failures` consecutive failures (`failures >= 1`): `initial · 2^(failures-1)`,
/// at most `max`.
#[must_use]
pub fn backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(31);
    initial.saturating_mul(1u32 << exponent).min(max)
}

/// The wait until the next regular scan: the interval plus `fraction · jitter · interval`, with
/// `fraction` in `[0, 1)`.
#[must_use]
pub fn jittered(interval: Duration, jitter: f64, fraction: f64) -> Duration {
    interval + interval.mul_f64((jitter * fraction).clamp(0.0, 1.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `due`.
    Idle,
    /// In the run queue.
    Queued,
    /// Scanning; `again` when a trigger came in meanwhile.
    Running { again: bool },
}

#[derive(Debug)]
struct Slot {
    name: String,
    interval: Duration,
    due: Instant,
    failures: u32,
    phase: Phase,
    scanned: bool,
    /// Rechecks still due after a webhook's scan (an index into `RECHECKS`, counting down).
    rechecks: usize,
}

/// How the scheduler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Everything in flight finished (or nothing was).
    Cleanly,
    /// The update pass in flight did not finish within the shutdown timeout and was stopped.
    UpdateAborted,
}

/// Runs the schedule until `cancel` fires; then stops the scans at once (they write nothing) and
/// gives an update pass in flight `shutdown_timeout` to finish.
pub async fn run<W: Work>(
    work: Arc<W>,
    targets: Vec<Target>,
    settings: Settings,
    mut triggers: mpsc::Receiver<Trigger>,
    cancel: CancellationToken,
) -> Stopped {
    let mut rng = fastrand::Rng::with_seed(settings.seed);
    let max_scans = settings.max_concurrent_scans.max(1);
    let now = Instant::now();
    let mut slots: Vec<Slot> = targets
        .into_iter()
        .map(|t| Slot {
            name: t.name,
            interval: t.interval,
            due: now,
            failures: 0,
            phase: Phase::Queued,
            scanned: false,
            rechecks: 0,
        })
        .collect();
    let index: HashMap<String, usize> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    // Every repository is scanned at start, in config order; then one pass brings the files in
    // line with what was found.
    let mut queue: VecDeque<usize> = (0..slots.len()).collect();
    let mut unscanned = slots.len();
    let mut scans: JoinSet<(usize, Result<bool, ()>)> = JoinSet::new();
    let mut updating: JoinSet<()> = JoinSet::new();
    let mut update_wanted = true;
    let mut triggers_open = true;
    if unscanned == 0 {
        work.ready();
    }

    loop {
        while scans.len() < max_scans {
            let Some(i) = queue.pop_front() else { break };
            slots[i].phase = Phase::Running { again: false };
            let (work, name) = (Arc::clone(&work), slots[i].name.clone());
            scans.spawn(async move { (i, work.scan(&name).await) });
        }
        if update_wanted && updating.is_empty() && unscanned == 0 {
            update_wanted = false;
            let work = Arc::clone(&work);
            updating.spawn(async move { work.update().await });
        }
        let next_due = slots
            .iter()
            .filter(|s| s.phase == Phase::Idle)
            .map(|s| s.due)
            .min();

        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(joined) = scans.join_next() => {
                let Ok((i, result)) = joined else {
                    // A panicking scan is a bug; its slot is lost until restart, the rest goes on.
                    tracing::error!("a repository scan task panicked");
                    continue;
                };
                let slot = &mut slots[i];
                let now = Instant::now();
                match result {
                    Ok(changed) => {
                        slot.failures = 0;
                        slot.due = if slot.rechecks > 0 {
                            let wait = RECHECKS[RECHECKS.len() - slot.rechecks];
                            slot.rechecks -= 1;
                            now + wait
                        } else {
                            now + jittered(slot.interval, settings.jitter, rng.f64())
                        };
                        update_wanted |= changed;
                    }
                    Err(()) => {
                        slot.rechecks = 0;
                        slot.failures = slot.failures.saturating_add(1);
                        let wait = backoff(slot.failures, settings.backoff_initial, settings.backoff_max);
                        tracing::debug!(repository = %slot.name, failures = slot.failures, ?wait, "retrying after a backoff");
                        slot.due = now + wait;
                    }
                }
                let again = matches!(slot.phase, Phase::Running { again: true });
                if again {
                    slot.phase = Phase::Queued;
                    queue.push_back(i);
                } else {
                    slot.phase = Phase::Idle;
                }
                if !slot.scanned {
                    slot.scanned = true;
                    unscanned -= 1;
                    if unscanned == 0 {
                        work.ready();
                    }
                }
            }
            Some(_) = updating.join_next() => {}
            trigger = triggers.recv(), if triggers_open => match trigger {
                Some(Trigger::Scan(name)) => match index.get(&name) {
                    Some(&i) => {
                        let slot = &mut slots[i];
                        slot.rechecks = RECHECKS.len();
                        match slot.phase {
                            Phase::Idle => {
                                slot.phase = Phase::Queued;
                                queue.push_back(i);
                            }
                            Phase::Queued | Phase::Running { again: true } => {}
                            Phase::Running { again: false } => {
                                slot.phase = Phase::Running { again: true };
                            }
                        }
                    }
                    None => tracing::warn!(repository = %name, "scan asked for an unknown repository"),
                },
                Some(Trigger::Update) => update_wanted = true,
                None => triggers_open = false,
            },
            () = sleep_until_or_forever(next_due) => {
                let now = Instant::now();
                for (i, slot) in slots.iter_mut().enumerate() {
                    if slot.phase == Phase::Idle && slot.due <= now {
                        slot.phase = Phase::Queued;
                        queue.push_back(i);
                    }
                }
            }
        }
    }

    scans.abort_all();
    if updating.is_empty() {
        return Stopped::Cleanly;
    }
    tracing::info!(
        "waiting up to {:?} for the update pass in flight",
        settings.shutdown_timeout
    );
    match tokio::time::timeout(settings.shutdown_timeout, updating.join_next()).await {
        Ok(_) => Stopped::Cleanly,
        Err(_) => {
            tracing::warn!(
                "the update pass did not finish within {:?}; stopping it (files are written \
                 atomically; the next start finishes the job)",
                settings.shutdown_timeout
            );
            updating.abort_all();
            Stopped::UpdateAborted
        }
    }
}

async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
