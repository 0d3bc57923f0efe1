//! Prometheus metrics (`GET /metrics`). Every name starts with `deckhand_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels naming a repository.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepositoryLabel {
    /// Its name in `repositories:`.
    pub repository: String,
}

/// Labels of the current-pick info metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PickLabels {
    /// `namespace:name` of the policy.
    pub policy: String,
    /// The repository's image.
    pub image: String,
    /// The picked tag.
    pub tag: String,
}

/// A result label (`ok`, `error`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// The result.
    pub result: String,
}

/// Labels of webhook events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    /// `harbor`, `registry`, `generic`.
    pub source: String,
    /// `accepted`, `ignored`, `unauthorized`, `too_large`, `malformed`, `busy`.
    pub result: String,
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Scans by repository.
    pub scans: Family<RepositoryLabel, Counter>,
    /// Failed scans by repository.
    pub scan_errors: Family<RepositoryLabel, Counter>,
    /// Scan duration.
    pub scan_duration: Family<RepositoryLabel, Histogram>,
    /// 1 for each policy's current pick.
    pub pick: Family<PickLabels, Gauge>,
    /// Update passes by result (`ok`, `error`).
    pub update_passes: Family<ResultLabel, Counter>,
    /// Files written by update passes.
    pub files_updated: Counter,
    /// Commits made.
    pub commits: Counter,
    /// Pushes made.
    pub pushes: Counter,
    /// Pushes refused because the remote moved (then retried).
    pub push_conflicts: Counter,
    /// Rollouts by result.
    pub rollouts: Family<ResultLabel, Counter>,
    /// Webhook requests by source and result.
    pub webhook_events: Family<HookLabels, Counter>,
}

fn scan_histogram() -> Histogram {
    Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("deckhand");
        let scans = Family::default();
        let scan_errors = Family::default();
        let scan_duration =
            Family::<RepositoryLabel, Histogram>::new_with_constructor(scan_histogram as fn() -> _);
        let pick = Family::default();
        let update_passes = Family::default();
        let files_updated = Counter::default();
        let commits = Counter::default();
        let pushes = Counter::default();
        let push_conflicts = Counter::default();
        let rollouts = Family::default();
        let webhook_events = Family::default();
        registry.register("scans", "Repository scans (tag listings)", scans.clone());
        registry.register(
            "scan_errors",
            "Repository scans that failed",
            scan_errors.clone(),
        );
        registry.register_with_unit(
            "scan_duration",
            "Duration of repository scans",
            prometheus_client::registry::Unit::Seconds,
            scan_duration.clone(),
        );
        registry.register(
            "policy_pick_info",
            "The current pick of each policy (value 1)",
            pick.clone(),
        );
        registry.register(
            "update_passes",
            "Update passes by result",
            update_passes.clone(),
        );
        registry.register(
            "files_updated",
            "Files rewritten by update passes",
            files_updated.clone(),
        );
        registry.register("commits", "Commits made", commits.clone());
        registry.register("pushes", "Pushes made", pushes.clone());
        registry.register(
            "push_conflicts",
            "Pushes rejected because the remote branch moved",
            push_conflicts.clone(),
        );
        registry.register("rollouts", "Rollouts by result", rollouts.clone());
        registry.register(
            "webhook_events",
            "Webhook requests by source and result",
            webhook_events.clone(),
        );
        Self {
            registry,
            scans,
            scan_errors,
            scan_duration,
            pick,
            update_passes,
            files_updated,
            commits,
            pushes,
            push_conflicts,
            rollouts,
            webhook_events,
        }
    }

    /// Counts a webhook request.
    pub fn hook(&self, source: &str, result: &str) {
        self.webhook_events
            .get_or_create(&HookLabels {
                source: source.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Sets a policy's current pick, dropping its previous one.
    pub fn set_pick(&self, policy: &str, image: &str, old: Option<&str>, tag: &str) {
        if let Some(old) = old.filter(|o| *o != tag) {
            self.pick.remove(&PickLabels {
                policy: policy.into(),
                image: image.into(),
                tag: old.into(),
            });
        }
        self.pick
            .get_or_create(&PickLabels {
                policy: policy.into(),
                image: image.into(),
                tag: tag.into(),
            })
            .set(1);
    }

    /// The text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pick_replacement() {
        let m = Metrics::new();
        let repo = RepositoryLabel {
            repository: "web".into(),
        };
        m.scans.get_or_create(&repo).inc();
        m.scan_duration.get_or_create(&repo).observe(0.02);
        m.set_pick("flux-system:web", "reg/web", None, "1.0.0");
        m.set_pick("flux-system:web", "reg/web", Some("1.0.0"), "1.1.0");
        m.hook("harbor", "accepted");
        let text = m.encode().unwrap();
        assert!(
            text.contains("deckhand_scans_total{repository=\"web\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "deckhand_scan_duration_seconds_bucket{le=\"0.025\",repository=\"web\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "deckhand_policy_pick_info{policy=\"flux-system:web\",image=\"reg/web\",tag=\"1.1.0\"} 1"
        ), "{text}");
        assert!(
            !text.contains("tag=\"1.0.0\""),
            "the old pick is gone: {text}"
        );
        assert!(
            text.contains("deckhand_webhook_events_total{source=\"harbor\",result=\"accepted\"} 1"),
            "{text}"
        );
        assert!(text.contains("deckhand_pushes_total 0"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("deckhand_"), "{line}");
        }
    }
}
