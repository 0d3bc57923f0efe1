//! The daemon's HTTP side: webhook receivers, metrics, health.

pub mod hooks;
pub mod metrics;
pub mod router;
