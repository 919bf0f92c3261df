//! Running a target for many cases: one input per case derived from a seed,
//! panics caught and reported with what reproduces them, failing inputs
//! shrunk.
//!
//! A case is a byte string drawn from a 64-bit case seed; the target turns
//! it into a structured input through [`arbitrary::Unstructured`]. The case
//! seeds of a run derive from the run's seed, so a run and any single case of
//! it can be repeated exactly: `--seed` repeats a run, `--replay` one case.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;

/// What a case did, for the tally of a run: a short label such as
/// `"decoded"` or `"refused"`.
pub type Path = &'static str;

/// The label of a case whose bytes ran out before its input was built.
pub const SHORT_INPUT: Path = "short input";

/// One fuzz target: builds an input from the bytes it is given, feeds it to
/// the code under test, and panics when an invariant does not hold.
#[derive(Clone, Copy)]
pub struct Target {
    /// The name `cargo xtask fuzz` takes.
    pub name: &'static str,
    /// What it feeds to what, in one line.
    pub about: &'static str,
    /// One case.
    pub run: fn(&mut Unstructured<'_>) -> arbitrary::Result<Path>,
    /// Paths the smoke test must see taken, so that a generator that stops
    /// reaching past the first check fails CI instead of fuzzing nothing.
    pub must_reach: &'static [Path],
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// The target's name.
    pub target: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// Cases run, the failing one included.
    pub cases: u64,
    /// Time spent running them (shrinking a failure not included).
    pub elapsed: Duration,
    /// How many cases took each path.
    pub paths: BTreeMap<Path, u64>,
    /// The slowest case and its case seed.
    pub slowest: (Duration, u64),
    /// The first failure; the run stops there.
    pub failure: Option<Failure>,
}

impl Report {
    /// Cases per second.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A case that panicked.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed of the failing case (`--replay` takes it).
    pub case_seed: u64,
    /// The panic message.
    pub message: String,
    /// Where it panicked (`file:line:column`).
    pub location: String,
    /// The smallest input found that panics at the same place.
    pub input: Vec<u8>,
}

/// Runs `target` for `cases` cases of the run `seed`, stopping at the first
/// failure, which is shrunk before it is returned.
pub fn run(target: &Target, cases: u64, seed: u64) -> Report {
    install_quiet_hook();
    let mut report = Report {
        target: target.name,
        seed,
        cases: 0,
        elapsed: Duration::ZERO,
        paths: BTreeMap::new(),
        slowest: (Duration::ZERO, 0),
        failure: None,
    };
    let started = Instant::now();
    let mut buffer = Vec::new();
    for case in 0..cases {
        let case_seed = case_seed(seed, case);
        input_into(case_seed, &mut buffer);
        let case_started = Instant::now();
        let outcome = attempt(target, &buffer);
        let took = case_started.elapsed();
        report.cases += 1;
        if took > report.slowest.0 {
            report.slowest = (took, case_seed);
        }
        match outcome {
            Ok(path) => *report.paths.entry(path).or_default() += 1,
            Err((message, location)) => {
                report.elapsed = started.elapsed();
                let input = shrink(target, buffer.clone(), &location);
                // The shrunk input's message describes the smaller input.
                let message = match attempt(target, &input) {
                    Err((shrunk, _)) => shrunk,
                    Ok(_) => message,
                };
                report.failure = Some(Failure { case_seed, message, location, input });
                return report;
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Runs one case without catching its panic, printing what the target
/// builds from it: for a failure's backtrace and a look at its input.
pub fn replay(target: &Target, input: &[u8]) -> Path {
    VERBOSE.with(|v| v.set(true));
    let path = (target.run)(&mut Unstructured::new(input)).unwrap_or(SHORT_INPUT);
    VERBOSE.with(|v| v.set(false));
    path
}

/// The bytes of the case `case_seed`.
pub fn input(case_seed: u64) -> Vec<u8> {
    let mut buffer = Vec::new();
    input_into(case_seed, &mut buffer);
    buffer
}

/// The seed of case number `case` of the run `seed`.
pub fn case_seed(seed: u64, case: u64) -> u64 {
    splitmix64(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Prints what a target built, when a case is replayed; costs nothing
/// otherwise (`describe` is not called).
pub fn show(describe: impl FnOnce() -> String) {
    if VERBOSE.with(Cell::get) {
        eprintln!("{}", describe());
    }
}

thread_local! {
    static VERBOSE: Cell<bool> = const { Cell::new(false) };
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Short inputs now and then, which run out early (`Unstructured` then
/// answers every choice with its first option: the plainest input); mostly
/// a few KiB, enough for every choice of a structured input; now and then
/// long ones, for lists, nesting and big documents.
fn input_into(case_seed: u64, buffer: &mut Vec<u8>) {
    let mut state = case_seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix64(state)
    };
    let shape = next();
    let len = match shape % 4 {
        0 => (shape >> 8) % 256,
        1 | 2 => (shape >> 8) % 4096,
        _ => (shape >> 8) % 16384,
    } as usize;
    buffer.clear();
    while buffer.len() < len {
        buffer.extend_from_slice(&next().to_le_bytes());
    }
    buffer.truncate(len);
}

/// A case's path, or its panic's message and location.
fn attempt(target: &Target, input: &[u8]) -> Result<Path, (String, String)> {
    CATCHING.with(|c| c.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&mut Unstructured::new(input))));
    CATCHING.with(|c| c.set(false));
    match outcome {
        Ok(Ok(path)) => Ok(path),
        Ok(Err(_)) => Ok(SHORT_INPUT),
        Err(payload) => Err(LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| (payload_text(payload.as_ref()), "unknown".into()))),
    }
}

/// At most this many re-runs are spent shrinking a failure.
const SHRINK_BUDGET: usize = 20_000;

/// Removes chunks of the input, then lowers its bytes, keeping every change
/// after which it still panics at the same place. Inputs read front to back
/// through `Unstructured`, so a shorter input with smaller bytes builds a
/// smaller, simpler structure.
fn shrink(target: &Target, mut best: Vec<u8>, location: &str) -> Vec<u8> {
    let mut tries = 0;
    let fails = |candidate: &[u8], tries: &mut usize| {
        *tries += 1;
        matches!(attempt(target, candidate), Err((_, at)) if at == location)
    };
    let mut chunk = best.len().div_ceil(2);
    while chunk > 0 && tries < SHRINK_BUDGET {
        let mut start = 0;
        let mut removed = false;
        while start + chunk <= best.len() && tries < SHRINK_BUDGET {
            let mut candidate = best.clone();
            candidate.drain(start..start + chunk);
            if fails(&candidate, &mut tries) {
                best = candidate;
                removed = true;
            } else {
                start += chunk;
            }
        }
        if !removed {
            chunk /= 2;
        }
    }
    for i in 0..best.len() {
        for lower in [0, best[i] / 2, best[i].saturating_sub(1)] {
            if tries >= SHRINK_BUDGET || lower >= best[i] {
                continue;
            }
            let mut candidate = best.clone();
            candidate[i] = lower;
            if fails(&candidate, &mut tries) {
                best = candidate;
                break;
            }
        }
    }
    best
}

/// Keeps a million caught panics from printing a million messages: while a
/// thread runs a case, its panics' message and location go to
/// [`LAST_PANIC`]; every other panic (a failing test's) goes to the hook
/// that was there before. Installed once, for the whole process, since the
/// hook is global and tests run on several threads.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(Cell::get) {
                return previous(info);
            }
            let location = info.location().map(|l| l.to_string()).unwrap_or_else(|| "unknown".into());
            LAST_PANIC.with(|p| *p.borrow_mut() = Some((payload_text(info.payload()), location)));
        }));
    });
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics_on_a_seven(u: &mut Unstructured<'_>) -> arbitrary::Result<Path> {
        let bytes: Vec<u8> = u.arbitrary()?;
        assert!(!bytes.contains(&7), "found a seven");
        Ok(if bytes.is_empty() { "empty" } else { "bytes" })
    }

    const SEVEN: Target = Target { name: "seven", about: "", run: panics_on_a_seven, must_reach: &[] };

    #[test]
    fn cases_are_the_same_for_the_same_seed() {
        assert_eq!(input(case_seed(1, 2)), input(case_seed(1, 2)));
        assert_ne!(input(case_seed(1, 2)), input(case_seed(1, 3)));
        assert_ne!(case_seed(1, 2), case_seed(2, 2));
    }

    #[test]
    fn a_panic_is_reported_shrunk_with_its_seed() {
        let report = run(&SEVEN, 100_000, 42);
        let failure = report.failure.expect("some case holds a seven");
        assert_eq!(failure.message, "found a seven");
        assert!(failure.location.contains("engine.rs"), "{}", failure.location);
        assert!(failure.input.len() <= 2, "shrunk to {:?}", failure.input);
        let again = attempt(&SEVEN, &input(failure.case_seed)).unwrap_err();
        assert_eq!(again.0, "found a seven", "the case seed reproduces it");
        assert_eq!(report.cases, report.paths.values().sum::<u64>() + 1);
    }
}
