//! The scheduler on tokio's paused clock: every time below is exact, and a test of minutes of
//! schedule runs in milliseconds.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Settings, Stopped, Target, Trigger, Work, backoff, jittered, run};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    ScanStart(String, u64),
    ScanEnd(String, u64),
    UpdateStart(u64),
    UpdateEnd(u64),
    Ready(u64),
}

/// A fake repository scanner and updater that records what happened when, in milliseconds since
/// the start.
struct Fake {
    start: Instant,
    scan_time: HashMap<String, Duration>,
    default_scan_time: Duration,
    update_time: Duration,
    outcomes: Mutex<HashMap<String, VecDeque<Result<bool, ()>>>>,
    log: Mutex<Vec<Event>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    per_repo: Mutex<HashMap<String, usize>>,
    max_per_repo: AtomicUsize,
    updates: AtomicUsize,
    max_updates: AtomicUsize,
}

impl Fake {
    fn new(default_scan_time: Duration, update_time: Duration) -> Self {
        Self {
            start: Instant::now(),
            scan_time: HashMap::new(),
            default_scan_time,
            update_time,
            outcomes: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            per_repo: Mutex::new(HashMap::new()),
            max_per_repo: AtomicUsize::new(0),
            updates: AtomicUsize::new(0),
            max_updates: AtomicUsize::new(0),
        }
    }

    fn scan_time(mut self, repo: &str, d: Duration) -> Self {
        self.scan_time.insert(repo.into(), d);
        self
    }

    fn outcomes(self, repo: &str, results: &[Result<bool, ()>]) -> Self {
        self.outcomes
            .lock()
            .unwrap()
            .insert(repo.into(), results.iter().copied().collect());
        self
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap()
    }

    fn record(&self, e: Event) {
        self.log.lock().unwrap().push(e);
    }

    fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    fn scan_starts(&self, repo: &str) -> Vec<u64> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::ScanStart(r, t) if r == repo => Some(t),
                _ => None,
            })
            .collect()
    }

    fn updates(&self) -> Vec<(u64, u64)> {
        let mut starts = Vec::new();
        let mut out = Vec::new();
        for e in self.events() {
            match e {
                Event::UpdateStart(t) => starts.push(t),
                Event::UpdateEnd(t) => out.push((starts.remove(0), t)),
                _ => {}
            }
        }
        out
    }
}

impl Work for Fake {
    async fn scan(&self, repository: &str) -> Result<bool, ()> {
        self.record(Event::ScanStart(repository.into(), self.ms()));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        {
            let mut per = self.per_repo.lock().unwrap();
            let n = per.entry(repository.into()).or_default();
            *n += 1;
            self.max_per_repo.fetch_max(*n, Ordering::SeqCst);
        }
        let time = self
            .scan_time
            .get(repository)
            .copied()
            .unwrap_or(self.default_scan_time);
        tokio::time::sleep(time).await;
        *self.per_repo.lock().unwrap().get_mut(repository).unwrap() -= 1;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.record(Event::ScanEnd(repository.into(), self.ms()));
        self.outcomes
            .lock()
            .unwrap()
            .get_mut(repository)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Ok(false))
    }

    async fn update(&self) {
        self.record(Event::UpdateStart(self.ms()));
        let n = self.updates.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_updates.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.update_time).await;
        self.updates.fetch_sub(1, Ordering::SeqCst);
        self.record(Event::UpdateEnd(self.ms()));
    }

    fn ready(&self) {
        self.record(Event::Ready(self.ms()));
    }
}

fn targets(names: &[&str], interval: Duration) -> Vec<Target> {
    names
        .iter()
        .map(|n| Target {
            name: (*n).into(),
            interval,
        })
        .collect()
}

struct Running {
    tx: mpsc::Sender<Trigger>,
    cancel: CancellationToken,
    handle: JoinHandle<Stopped>,
}

fn start(fake: &Arc<Fake>, targets: Vec<Target>, settings: Settings) -> Running {
    let (tx, rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let handle = tokio::spawn(run(Arc::clone(fake), targets, settings, rx, cancel.clone()));
    Running { tx, cancel, handle }
}

const S: Duration = Duration::from_secs(1);

async fn sleep_s(secs: u64) {
    tokio::time::sleep(S * u32::try_from(secs).unwrap()).await;
}

#[test]
fn backoff_doubles_to_the_cap() {
    let waits: Vec<u64> = (1..=7)
        .map(|n| backoff(n, S * 2, S * 30).as_secs())
        .collect();
    assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30]);
    assert_eq!(backoff(u32::MAX, S, S * 600), S * 600, "no overflow");
}

#[test]
fn jitter_stays_within_its_fraction() {
    assert_eq!(jittered(S * 60, 0.1, 0.0), S * 60);
    assert_eq!(jittered(S * 60, 0.1, 0.5), S * 63);
    assert!(jittered(S * 60, 0.1, 0.999) < S * 66);
}

#[tokio::test(start_paused = true)]
async fn scans_on_the_interval_with_jitter() {
    let fake = Arc::new(Fake::new(S, Duration::ZERO));
    let settings = Settings {
        jitter: 0.1,
        seed: 7,
        ..Settings::default()
    };
    let r = start(&fake, targets(&["a"], S * 60), settings);
    sleep_s(20 * 60).await;
    r.cancel.cancel();
    assert_eq!(r.handle.await.unwrap(), Stopped::Cleanly);

    let events = fake.events();
    let mut gaps = Vec::new();
    let mut last_end = None;
    for e in &events {
        match e {
            Event::ScanStart(_, t) => {
                if let Some(end) = last_end {
                    gaps.push(t - end);
                }
            }
            Event::ScanEnd(_, t) => last_end = Some(*t),
            _ => {}
        }
    }
    assert!(gaps.len() >= 15, "{events:?}");
    for g in &gaps {
        assert!(
            (60_000..66_000).contains(g),
            "gap {g} ms outside [60 s, 66 s)"
        );
    }
    let distinct: std::collections::BTreeSet<_> = gaps.iter().collect();
    assert!(distinct.len() > gaps.len() / 2, "jitter varies: {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn one_scan_per_repository_at_a_time_and_one_rerun_for_many_triggers() {
    let fake = Arc::new(Fake::new(S * 10, Duration::ZERO));
    let r = start(&fake, targets(&["a"], S * 3600), Settings::default());
    sleep_s(1).await;
    for _ in 0..5 {
        r.tx.send(Trigger::Scan("a".into())).await.unwrap();
    }
    sleep_s(4).await;
    for _ in 0..3 {
        r.tx.send(Trigger::Scan("a".into())).await.unwrap();
    }
    r.tx.send(Trigger::Scan("not-configured".into()))
        .await
        .unwrap();
    sleep_s(60).await;
    assert_eq!(fake.max_per_repo.load(Ordering::SeqCst), 1);
    assert_eq!(
        fake.scan_starts("a"),
        [0, 10_000, 22_000],
        "eight triggers during the first scan make exactly one more, then the 2 s recheck"
    );

    // Idle again: a trigger starts a scan at once.
    r.tx.send(Trigger::Scan("a".into())).await.unwrap();
    sleep_s(1).await;
    assert_eq!(fake.scan_starts("a"), [0, 10_000, 22_000, 65_000]);
    r.cancel.cancel();
    r.handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded() {
    let names: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fake = Arc::new(Fake::new(S * 5, Duration::ZERO));
    let settings = Settings {
        max_concurrent_scans: 3,
        ..Settings::default()
    };
    let r = start(&fake, targets(&refs, S * 3600), settings);
    sleep_s(30).await;
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 3);
    let mut starts: Vec<u64> = refs.iter().flat_map(|n| fake.scan_starts(n)).collect();
    starts.sort_unstable();
    assert_eq!(
        starts,
        [0, 0, 0, 5_000, 5_000, 5_000, 10_000, 10_000, 10_000, 15_000]
    );
    assert!(fake.events().contains(&Event::Ready(20_000)));
    r.cancel.cancel();
    r.handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_to_the_cap_and_recover_while_others_go_on() {
    let fake = Arc::new(Fake::new(Duration::ZERO, Duration::ZERO).outcomes(
        "down",
        &[Err(()), Err(()), Err(()), Err(()), Err(()), Err(())],
    ));
    let settings = Settings {
        backoff_initial: S * 2,
        backoff_max: S * 10,
        jitter: 0.0,
        ..Settings::default()
    };
    let mut t = targets(&["down"], S * 60);
    t.extend(targets(&["up"], S * 20));
    let r = start(&fake, t, settings);
    sleep_s(190).await;
    assert_eq!(
        fake.scan_starts("down"),
        [
            0, 2_000, 6_000, 14_000, 24_000, 34_000, 44_000, 104_000, 164_000
        ],
        "2, 4, 8, then capped at 10 s; after the success the 60 s interval again"
    );
    assert_eq!(
        fake.scan_starts("up"),
        [
            0, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 140_000, 160_000, 180_000
        ],
        "the healthy repository keeps its schedule"
    );
    r.cancel.cancel();
    r.handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn update_passes_wait_for_the_first_round_run_one_at_a_time_and_coalesce() {
    let fake = Arc::new(
        Fake::new(S, S * 10)
            .scan_time("slow", S * 5)
            .outcomes("fast", &[Ok(false), Ok(true), Ok(false)]),
    );
    let r = start(
        &fake,
        targets(&["fast", "slow"], S * 3600),
        Settings::default(),
    );
    sleep_s(6).await;
    // The first pass started when the slow repository's first scan ended, not before.
    assert_eq!(fake.updates.load(Ordering::SeqCst), 1);
    // During that pass: a scan that finds a new pick, and two file changes.
    r.tx.send(Trigger::Scan("fast".into())).await.unwrap();
    sleep_s(1).await;
    r.tx.send(Trigger::Update).await.unwrap();
    r.tx.send(Trigger::Update).await.unwrap();
    sleep_s(60).await;
    assert_eq!(
        fake.updates(),
        [(5_000, 15_000), (15_000, 25_000)],
        "three requests during a pass make exactly one more pass, right after it"
    );
    assert_eq!(fake.max_updates.load(Ordering::SeqCst), 1);
    // A scan without a changed pick asks for no pass.
    r.tx.send(Trigger::Scan("fast".into())).await.unwrap();
    sleep_s(30).await;
    assert_eq!(fake.updates().len(), 2);
    r.cancel.cancel();
    r.handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_pass_finish_within_the_timeout() {
    let fake = Arc::new(Fake::new(Duration::ZERO, S * 20));
    let settings = Settings {
        shutdown_timeout: S * 30,
        ..Settings::default()
    };
    let r = start(&fake, targets(&["a"], S * 3600), settings);
    sleep_s(5).await;
    let t0 = Instant::now();
    r.cancel.cancel();
    assert_eq!(r.handle.await.unwrap(), Stopped::Cleanly);
    assert_eq!(t0.elapsed(), S * 15, "returned when the pass ended");
    assert_eq!(fake.updates(), [(0, 20_000)]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_pass_that_overruns_the_timeout_and_scans_at_once() {
    let fake = Arc::new(Fake::new(S * 100, S * 600).scan_time("quick", Duration::ZERO));
    let settings = Settings {
        shutdown_timeout: S * 30,
        ..Settings::default()
    };
    // `quick` is scanned; `slow` holds the first round, so no pass yet: shutdown only has scans
    // to stop, and stops them at once.
    let r = start(
        &fake,
        targets(&["quick", "slow"], S * 3600),
        settings.clone(),
    );
    sleep_s(5).await;
    let t0 = Instant::now();
    r.cancel.cancel();
    assert_eq!(r.handle.await.unwrap(), Stopped::Cleanly);
    assert_eq!(t0.elapsed(), Duration::ZERO);

    let fake = Arc::new(Fake::new(Duration::ZERO, S * 600));
    let r = start(&fake, targets(&["a"], S * 3600), settings);
    sleep_s(5).await;
    let t0 = Instant::now();
    r.cancel.cancel();
    assert_eq!(r.handle.await.unwrap(), Stopped::UpdateAborted);
    assert_eq!(t0.elapsed(), S * 30);
    assert!(
        fake.updates().is_empty(),
        "the pass never ended: it was stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_webhook_scan_is_rechecked_shortly_after() {
    // The registry may send its event a moment before the tag is listed.
    let fake = Arc::new(Fake::new(Duration::ZERO, Duration::ZERO));
    let r = start(
        &fake,
        targets(&["a"], S * 60),
        Settings {
            jitter: 0.0,
            ..Settings::default()
        },
    );
    sleep_s(10).await;
    r.tx.send(Trigger::Scan("a".into())).await.unwrap();
    sleep_s(100).await;
    assert_eq!(
        fake.scan_starts("a"),
        [0, 10_000, 10_200, 12_200, 72_200],
        "the webhook's scan, rechecks after 200 ms and 2 s, then the interval"
    );
    r.cancel.cancel();
    r.handle.await.unwrap();
}
