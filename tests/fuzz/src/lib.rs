//! Fuzz targets for every parser that reads what outsiders send: the
//! CloudEvents HTTP binding (`POST /events`, components' replies), the AMQP
//! binding (RabbitMQ deliveries), the manifest (spin.toml), the WhatsApp
//! webhook and the order processor's hooks.
//!
//! Stable Rust, no fuzzing engine: each case is a byte string drawn from a
//! seed, turned into a structured input with [`arbitrary`] (real documents
//! with parts changed, generated ones, raw bytes) and fed to the parser; a
//! target panics when the parser does or when an invariant it promises does
//! not hold. [`engine`] runs the cases, catches the panics and shrinks the
//! input that caused one.
//!
//! ```sh
//! cargo xtask fuzz                          # every target, a million cases each
//! cargo xtask fuzz --cases 10000 manifest   # one target, fewer cases
//! cargo xtask fuzz manifest --replay 0x…    # one failing case, with its input and backtrace
//! ```
//!
//! `cargo test -p agent-store-fuzz` runs a short smoke of every target with
//! a fixed seed, which is what CI runs.
//!
//! ```
//! let target = agent_store_fuzz::target("http-binding").unwrap();
//! let report = agent_store_fuzz::engine::run(target, 100, 7);
//! assert!(report.failure.is_none());
//! assert_eq!(report.cases, 100);
//! ```

pub mod engine;
pub mod inputs;
pub mod targets;

pub use engine::Target;

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    targets::http_binding::TARGET,
    targets::amqp_binding::TARGET,
    targets::manifest::TARGET,
    targets::whatsapp_webhook::TARGET,
    targets::order_hooks::TARGET,
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough to reach every path of every target in about a second of a
    /// test build; `cargo xtask fuzz` runs a million.
    const SMOKE_CASES: u64 = 5_000;
    /// Fixed, so that CI is repeatable: a failure here is replayed with the
    /// case seed it prints.
    const SMOKE_SEED: u64 = 0x5eed_f022;

    fn smoke(name: &str) {
        let target = target(name).expect("a target of that name");
        let report = engine::run(target, SMOKE_CASES, SMOKE_SEED);
        if let Some(failure) = &report.failure {
            panic!(
                "{name} failed at case seed {:#x}: {} at {}\n  replay: cargo xtask fuzz {name} --replay {:#x}",
                failure.case_seed, failure.message, failure.location, failure.case_seed
            );
        }
        for path in target.must_reach {
            assert!(
                report.paths.contains_key(path),
                "{name} never reached `{path}` in {SMOKE_CASES} cases: {:?}",
                report.paths
            );
        }
    }

    #[test]
    fn http_binding() {
        smoke("http-binding");
    }

    #[test]
    fn amqp_binding() {
        smoke("amqp-binding");
    }

    #[test]
    fn manifest() {
        smoke("manifest");
    }

    #[test]
    fn whatsapp_webhook() {
        smoke("whatsapp-webhook");
    }

    #[test]
    fn order_hooks() {
        smoke("order-hooks");
    }

    #[test]
    fn every_target_has_a_smoke_test_and_a_unique_name() {
        let source = include_str!("lib.rs");
        for (i, target) in TARGETS.iter().enumerate() {
            assert!(source.contains(&format!("smoke(\"{}\")", target.name)), "no smoke test for {}", target.name);
            assert!(TARGETS[..i].iter().all(|t| t.name != target.name), "two targets called {}", target.name);
        }
    }
}
