//! `agent-store-fuzz`: runs the fuzz targets; `cargo xtask fuzz` builds it
//! in the `fuzz` profile and passes its arguments here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_store_fuzz::engine::{self, Report};
use agent_store_fuzz::{TARGETS, Target, target};

const USAGE: &str = "\
agent-store-fuzz [options] [target…]

Runs each target (all of them when none is named) for N cases and prints
cases per second and the paths the cases took. Exits non-zero when a case
panics, with the case seed that replays it and the shrunk input.

Options:
  --cases N        cases per target (default 1000000; 1_000_000, 10k and 1M work too)
  --seed S         the run's seed (default: from the clock, printed), decimal or 0x-hex
  --replay SEED    run the one case with this case seed, uncaught, showing its input
  --input FILE     run the one case with these input bytes, uncaught, showing its input
  --artifacts DIR  where shrunk failing inputs are written (default: the system's temp dir)
  --list           the targets and what they fuzz";

/// A million cases per target, as issue 10 asks.
const DEFAULT_CASES: u64 = 1_000_000;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut cases = DEFAULT_CASES;
    let mut seed = None;
    let mut replay = None;
    let mut input = None;
    let mut artifacts = std::env::temp_dir().join("agent-store-fuzz");
    let mut chosen: Vec<&'static Target> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--cases" => cases = parse_count(&value("--cases")?)?,
            "--seed" => seed = Some(parse_seed(&value("--seed")?)?),
            "--replay" => replay = Some(parse_seed(&value("--replay")?)?),
            "--input" => input = Some(PathBuf::from(value("--input")?)),
            "--artifacts" => artifacts = PathBuf::from(value("--artifacts")?),
            "--list" => {
                for target in TARGETS {
                    println!("{:<18} {}", target.name, target.about);
                }
                return Ok(ExitCode::SUCCESS);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            name if !name.starts_with('-') => {
                let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                chosen.push(target(name).ok_or_else(|| format!("no target `{name}`; there are {}", names.join(", ")))?);
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }

    if replay.is_some() || input.is_some() {
        let [target] = chosen.as_slice() else {
            return Err("--replay and --input take exactly one target".into());
        };
        let bytes = match (replay, &input) {
            (Some(case_seed), _) => engine::input(case_seed),
            (None, Some(path)) => std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?,
            (None, None) => unreachable!("checked above"),
        };
        println!("replaying one case of {} ({} input bytes)", target.name, bytes.len());
        let path = engine::replay(target, &bytes);
        println!("no panic; the case took the path `{path}`");
        return Ok(ExitCode::SUCCESS);
    }

    if chosen.is_empty() {
        chosen = TARGETS.iter().collect();
    }
    let seed = seed.unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        now.as_secs() ^ u64::from(now.subsec_nanos()).rotate_left(32)
    });
    println!("seed {seed:#x} (--seed {seed:#x} repeats this run), {} cases per target\n", group(cases));

    let mut reports = Vec::new();
    for target in chosen {
        println!("{}: {}", target.name, target.about);
        let report = engine::run(target, cases, seed);
        print_report(&report, &artifacts);
        reports.push(report);
    }

    println!("\n| target | cases | wall time | cases/s | slowest case |\n|---|---:|---:|---:|---:|");
    for report in &reports {
        println!(
            "| `{}` | {} | {} | {} | {} |{}",
            report.target,
            group(report.cases),
            duration(report.elapsed),
            group(report.rate() as u64),
            duration(report.slowest.0),
            if report.failure.is_some() { " **failed**" } else { "" }
        );
    }
    let failed = reports.iter().filter(|r| r.failure.is_some()).count();
    if failed > 0 {
        println!("\n{failed} of {} targets failed", reports.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report, artifacts: &std::path::Path) {
    println!(
        "  {} cases in {}, {} cases/s; slowest case {} (case seed {:#x})",
        group(report.cases),
        duration(report.elapsed),
        group(report.rate() as u64),
        duration(report.slowest.0),
        report.slowest.1
    );
    let total: u64 = report.paths.values().sum();
    let paths: Vec<String> = report
        .paths
        .iter()
        .map(|(path, n)| format!("{path} {:.1}%", *n as f64 * 100.0 / total.max(1) as f64))
        .collect();
    println!("  paths: {}", paths.join(", "));
    let Some(failure) = &report.failure else { return };
    println!("  FAILED: {}\n    at {}", failure.message, failure.location);
    println!("    replay: cargo xtask fuzz {} --replay {:#x}", report.target, failure.case_seed);
    let file = artifacts.join(format!("{}-{:016x}.bin", report.target, failure.case_seed));
    match std::fs::create_dir_all(artifacts).and_then(|()| std::fs::write(&file, &failure.input)) {
        Ok(()) => println!(
            "    shrunk to {} bytes: cargo xtask fuzz {} --input {}",
            failure.input.len(),
            report.target,
            file.display()
        ),
        Err(e) => println!("    (the shrunk input could not be written to {}: {e})", file.display()),
    }
}

/// `1000000`, `1_000_000`, `10k`, `1M`.
fn parse_count(text: &str) -> Result<u64, String> {
    let clean = text.replace(['_', ','], "");
    let (number, factor) = match clean.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1_000),
        None => match clean.strip_suffix('M') {
            Some(n) => (n, 1_000_000),
            None => (clean.as_str(), 1),
        },
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("`{text}` is not a number of cases"))
}

fn parse_seed(text: &str) -> Result<u64, String> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    }
    .map_err(|_| format!("`{text}` is not a seed (decimal or 0x-hex)"))
}

/// `1,000,000`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_seeds_read_the_usual_ways() {
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert!(parse_count("lots").is_err());
        assert_eq!(parse_seed("0x5eed"), Ok(0x5eed));
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
