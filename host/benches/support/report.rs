//! A row of the table `cargo xtask bench` prints (issue 13's goals): each
//! bench prints the rows it measured and, when `AGENT_STORE_BENCH_ROWS`
//! names a file, appends them there as JSON lines for xtask to gather.

#![allow(dead_code, reason = "each bench uses the part of this module it needs")]

use std::io::Write as _;

/// The file xtask gathers rows from.
const ROWS_ENV: &str = "AGENT_STORE_BENCH_ROWS";

/// One measure against its baseline and its goal.
pub struct Row<'a> {
    /// The row of the table ("4", "9b", …): xtask orders by it.
    pub row: &'a str,
    pub measure: &'a str,
    /// What was measured: median and spread, with units.
    pub figure: String,
    /// The baseline measured in the same run ("—" when there is none).
    pub baseline: String,
    pub ratio: Option<f64>,
    pub goal: &'a str,
    /// `None` when the goal could not be judged (a row skipped).
    pub met: Option<bool>,
}

pub fn record(row: Row<'_>) {
    let json = serde_json::json!({
        "row": row.row,
        "measure": row.measure,
        "figure": row.figure,
        "baseline": row.baseline,
        "ratio": row.ratio,
        "goal": row.goal,
        "met": row.met,
    });
    let verdict = match row.met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not judged",
    };
    let ratio = row.ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "—".into());
    println!(
        "row {}: {} — {} (baseline {}; ratio {ratio}; goal {}: {verdict})",
        row.row, row.measure, row.figure, row.baseline, row.goal
    );
    if let Some(path) = std::env::var_os(ROWS_ENV) {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| writeln!(file, "{json}"));
        if let Err(e) = written {
            eprintln!("could not append the row to {}: {e}", path.to_string_lossy());
        }
    }
}

/// Median, minimum and maximum of `values` (not empty).
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (sorted[sorted.len() / 2], sorted[0], sorted[sorted.len() - 1])
}
