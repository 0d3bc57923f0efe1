//! Throughput of `Policy::select` on 100,000 generated tags (no harness, no criterion).
//!
//! Run with `cargo bench --bench policy`. Prints tags/s per scenario against the targets and
//! exits non-zero only when a pick is wrong; timing never fails the run.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use deckhand::policy::{Constraint, Filter, Order, Policy, Rule};

const TAGS: usize = 100_000;
const RUNS: usize = 15;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `main-<7 hex>-<10 digit ts>` builds plus 10% noise; also returns the expected picks, computed
/// without regexes: (alphabetical max over the builds, numerical max ts with ties to the greater
/// tag).
fn ci_tags(rng: &mut Rng) -> (Vec<String>, String, String) {
    let mut tags = Vec::with_capacity(TAGS);
    let mut alpha_best = String::new();
    let mut num_best: (u64, String) = (0, String::new());
    for i in 0..TAGS {
        if rng.below(10) == 0 {
            tags.push(match rng.below(5) {
                0 => "latest".to_owned(),
                1 => format!("pr-{}", rng.below(5000)),
                2 => format!("main-{:07x}", rng.below(1 << 28)),
                3 => format!("sha256-{:016x}.sig", rng.next()),
                _ => format!("v{}.{}.{}", rng.below(5), rng.below(20), i % 50),
            });
            continue;
        }
        // Few distinct timestamps, so equal extracted keys do occur.
        let ts = 1_700_000_000 + rng.below(50_000) * 1000;
        let tag = format!("main-{:07x}-{ts}", rng.below(1 << 28));
        if tag > alpha_best {
            alpha_best.clone_from(&tag);
        }
        if ts > num_best.0 || (ts == num_best.0 && tag > num_best.1) {
            num_best = (ts, tag.clone());
        }
        tags.push(tag);
    }
    (tags, alpha_best, num_best.1)
}

/// Semver-ish tags (`1.2.3`, `v2.0.0-rc.1`, ...) plus 20% noise; also returns the expected pick
/// for `>=1.0.0 <3.0.0`: the highest release with major 1 or 2, ties to the greater tag.
fn semver_tags(rng: &mut Rng) -> (Vec<String>, String) {
    let mut tags = Vec::with_capacity(TAGS);
    let mut best: ((u64, u64, u64), String) = ((0, 0, 0), String::new());
    for _ in 0..TAGS {
        if rng.below(5) == 0 {
            tags.push(match rng.below(4) {
                0 => "latest".to_owned(),
                1 => format!("{}.{}", rng.below(5), rng.below(30)),
                2 => format!("nightly-{}", rng.below(100_000)),
                _ => format!("{}.{}.{}.{}", rng.below(5), rng.below(30), rng.below(50), 1),
            });
            continue;
        }
        let v = (rng.below(5), rng.below(30), rng.below(50));
        let prefix = if rng.below(2) == 0 { "v" } else { "" };
        let pre = rng.below(5) == 0;
        let tag = if pre {
            format!("{prefix}{}.{}.{}-rc.{}", v.0, v.1, v.2, rng.below(12))
        } else {
            format!("{prefix}{}.{}.{}", v.0, v.1, v.2)
        };
        if !pre && (1..3).contains(&v.0) && (v > best.0 || (v == best.0 && tag > best.1)) {
            best = (v, tag.clone());
        }
        tags.push(tag);
    }
    (tags, best.1)
}

fn measure(name: &str, target: f64, policy: &Policy, tags: &[String], want: &str) -> bool {
    let got = policy.select(tags);
    let ok = got == Ok(want);
    if !ok {
        eprintln!("{name}: WRONG PICK: got {got:?}, want {want:?}");
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let pick = policy.select(black_box(tags));
            black_box(pick.ok());
            start.elapsed()
        })
        .collect();
    times.sort();
    #[allow(clippy::cast_precision_loss)]
    let rate = |d: Duration| tags.len() as f64 / d.as_secs_f64();
    let best = rate(times[0]);
    let median = rate(times[RUNS / 2]);
    let verdict = if median >= target { "meets" } else { "BELOW" };
    println!(
        "{name:<44} best {best:>12.0} tags/s  median {median:>12.0} tags/s  \
         target {target:>9.0}  {verdict}"
    );
    ok
}

fn main() -> ExitCode {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (ci, alpha_want, num_want) = ci_tags(&mut rng);
    let (versions, semver_want) = semver_tags(&mut rng);

    let filter = |pattern: &str, extract: &str| {
        Some(Filter::new(pattern, Some(extract)).expect("benchmark patterns are valid"))
    };
    let alphabetical = Policy {
        rule: Rule::Alphabetical(Order::Asc),
        filter: filter(r"^main-[a-f0-9]{7}-[0-9]{10}$", "$0"),
    };
    let numerical = Policy {
        rule: Rule::Numerical(Order::Asc),
        filter: filter(r"^main-[a-f0-9]+-(?P<ts>[0-9]{10})$", "$ts"),
    };
    let semver = Policy {
        rule: Rule::Semver(Constraint::parse(">=1.0.0 <3.0.0").expect("valid range")),
        filter: None,
    };

    println!("policy select over {TAGS} tags, {RUNS} runs each");
    let mut ok = true;
    ok &= measure(
        "alphabetical asc, filter, extract $0",
        1_000_000.0,
        &alphabetical,
        &ci,
        &alpha_want,
    );
    ok &= measure(
        "numerical asc, filter, extract $ts",
        1_000_000.0,
        &numerical,
        &ci,
        &num_want,
    );
    ok &= measure(
        "semver >=1.0.0 <3.0.0",
        300_000.0,
        &semver,
        &versions,
        &semver_want,
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
