//! `cargo xtask`: the project's two commands and the steps behind them.
//!
//! - `cargo xtask up` builds every component and the host, then runs the
//!   store locally with the embedded defaults.
//! - `cargo xtask test` starts the services the tests use when they are not
//!   running, builds every component once, then runs every test.
//! - `cargo xtask fuzz` runs the fuzz targets of `tests/fuzz` for a million
//!   cases each (the tests run a short smoke of each).
//!
//! Both install what they need themselves (the `wasm32-wasip2` target).
//! Guest components are found dynamically: every workspace member whose
//! manifest lives under `components/`, `brands/` or `tests/components/`.
//! That includes the components of brand packages (`brands/<brand>/spin.toml`),
//! which the store's `spin.toml` does not name: they are deployed into a
//! running store, and the tests that deploy them need them built too.
//! Nothing here sets `CARGO_TARGET_DIR`: where things are built is the
//! caller's choice, and `cargo metadata` tells us where that is.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

const WASM_TARGET: &str = "wasm32-wasip2";
/// Where guest components live, relative to the workspace root.
const GUEST_DIRS: &[&str] = &["components", "brands", "tests/components"];
/// The host package and binary.
const HOST: &str = "agent-store";
/// Where brand packages live: `<dir>/<brand>/spin.toml`.
const PACKAGES_DIR: &str = "brands";
/// Tells the host and the test harness where the built components are.
const WASM_DIR_ENV: &str = "AGENT_STORE_WASM_DIR";
/// Where the end-to-end tests keep their hosts' logs (tests/support).
const TEST_LOG_DIR_ENV: &str = "AGENT_STORE_TEST_LOG_DIR";
/// The fuzz targets' package, and the profile they run in: release speed
/// with overflow checks (see Cargo.toml).
const FUZZ: &str = "agent-store-fuzz";
const FUZZ_PROFILE: &str = "fuzz";

const HELP: &str = "\
cargo xtask <command> [options]

Commands:
  build [--debug]       Build every guest component (crates under components/, brands/
                        and tests/components/) for wasm32-wasip2 in one cargo invocation,
                        adding the wasm32-wasip2 target with rustup first if it is missing.
                        The components of brand packages (brands/<brand>/spin.toml, deployed
                        into a running store) are built with the rest.
                        Release by default; the .wasm files land in
                        <target dir>/wasm32-wasip2/release/ (debug/ with --debug).
  up [-- <args>]        build, then build the host (release) and run
                        `agent-store up --manifest spin.toml <args>` from the workspace root,
                        with AGENT_STORE_WASM_DIR pointing at the built components and the
                        demo values of demo.env for the variables the environment does not set.
  test [<cargo test args>]
                        Make sure RabbitMQ (127.0.0.1:5672) and Redis (127.0.0.1:6379) are
                        reachable, starting them if they are not; install Chromium and
                        chromedriver (apt-get install chromium chromium-driver) for the
                        console's browser tests if they are missing; say which Spin CLI the
                        stock Spin test runs (SPIN, else `spin` on PATH; none: it skips); build; then
                        `cargo test --workspace --all-targets` and the doctests, with
                        AGENT_STORE_WASM_DIR set (a smoke run of every fuzz target included).
                        Every test host's log lines are kept under <target dir>/test-logs/;
                        after a full run, a check greps them for the test customers' phone
                        numbers and messages (none may appear).
                        Arguments go to `cargo test` verbatim:
                        `cargo xtask test -p product-catalog -- --nocapture`.
  bench [<cargo bench args>]
                        With no arguments: make sure RabbitMQ and Redis are up, build, then run
                        every bench behind issue 13's table (invoke's rows through a criterion
                        filter, broker, load, cold_start; Spin from SPIN, PATH or
                        ../shared/bin/spin) and print the table: row, figure, baseline, ratio,
                        goal, met. Also written to <target dir>/bench-table.md.
                        AGENT_STORE_BENCH_PROFILE=dev builds them in the dev profile instead.
                        With arguments: build, then `cargo bench -p agent-store <args>` with
                        AGENT_STORE_WASM_DIR (`cargo xtask bench --bench invoke`).
  fuzz [--cases N] [--seed S] [target…]
                        Run the fuzz targets of tests/fuzz (all of them when none is named) for
                        N cases each (default 1,000,000), built in the `fuzz` profile (release,
                        with overflow checks); print cases per second and the total per target.
                        On a failure, exit non-zero with the case seed that replays it
                        (`cargo xtask fuzz <target> --replay <seed>`) and the shrunk input,
                        written under <target dir>/fuzz-artifacts/ (`--input <file>`).
                        `cargo xtask fuzz --list` names the targets.
  help                  This text.

CARGO_TARGET_DIR is respected everywhere.";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("\nerror: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{HELP}");
        return Ok(ExitCode::from(2));
    };
    let rest: Vec<OsString> = args.collect();
    match command.to_str().unwrap_or_default() {
        "build" => {
            let profile = match rest.iter().map(|a| a.to_str()).collect::<Vec<_>>().as_slice() {
                [] => Profile::Release,
                [Some("--debug")] => Profile::Debug,
                _ => bail!("`cargo xtask build` takes only `--debug`, got {rest:?}"),
            };
            let ws = Workspace::load()?;
            let started = Instant::now();
            build(&ws, profile)?;
            println!("build took {}", elapsed(started));
            Ok(ExitCode::SUCCESS)
        }
        "up" => up(rest),
        "test" => test(rest),
        "bench" => bench(rest),
        "fuzz" => fuzz(rest),
        "help" | "-h" | "--help" => {
            println!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprintln!("{HELP}");
            bail!("unknown command `{other}`")
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    Release,
    Debug,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// A guest component crate.
struct Guest {
    package: String,
    /// The crate's directory.
    dir: PathBuf,
    /// The `.wasm` file name, from its `cdylib` target (`None` if it has none).
    wasm: Option<String>,
}

/// What `cargo metadata` says about the workspace.
struct Workspace {
    root: PathBuf,
    target_dir: PathBuf,
    guests: Vec<Guest>,
    /// Brand packages: `(brand, the .wasm of its component)`.
    packages: Vec<(String, String)>,
}

impl Workspace {
    fn load() -> Result<Self> {
        // `cargo xtask` (cargo run) sets it when it runs us. The compile-time
        // value would be the checkout that built this binary: one target
        // directory serves several checkouts (CI keeps it outside its
        // clones), and a binary built in another one would work there.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let root = Path::new(&manifest_dir).join("..");
        let output = cargo(&root)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running `cargo metadata`")?;
        if !output.status.success() {
            bail!("`cargo metadata` failed ({})", output.status);
        }
        let meta: Value = serde_json::from_slice(&output.stdout).context("parsing `cargo metadata` output")?;
        let root = PathBuf::from(str_field(&meta, "workspace_root")?);
        let target_dir = PathBuf::from(str_field(&meta, "target_directory")?);
        let members: Vec<&str> = array_field(&meta, "workspace_members")?.iter().filter_map(Value::as_str).collect();

        let mut guests = Vec::new();
        let mut manifests = Vec::new();
        for package in array_field(&meta, "packages")? {
            let manifest = PathBuf::from(str_field(package, "manifest_path")?);
            manifests.push(manifest.clone());
            if !members.contains(&str_field(package, "id")?) {
                continue;
            }
            let dir = manifest.parent().unwrap_or(&manifest);
            let Ok(relative) = dir.strip_prefix(&root) else {
                continue;
            };
            if !GUEST_DIRS.iter().any(|guest_dir| relative.starts_with(guest_dir)) {
                continue;
            }
            let wasm = array_field(package, "targets")?
                .iter()
                .find(|target| {
                    target["crate_types"].as_array().is_some_and(|types| types.iter().any(|t| t == "cdylib"))
                })
                .and_then(|target| target["name"].as_str())
                .map(|name| format!("{}.wasm", name.replace('-', "_")));
            guests.push(Guest { package: str_field(package, "name")?.to_string(), dir: dir.to_path_buf(), wasm });
        }
        guests.sort_by(|a, b| a.package.cmp(&b.package));

        // A crate dropped into a guest folder but not listed in the workspace
        // would silently not be built: say so.
        for guest_dir in GUEST_DIRS {
            let Ok(entries) = std::fs::read_dir(root.join(guest_dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let manifest = entry.path().join("Cargo.toml");
                if manifest.is_file() && !manifests.iter().any(|m| same_file(m, &manifest)) {
                    eprintln!(
                        "warning: {} is not a workspace member, so it is not built: add it to `members` in Cargo.toml",
                        manifest.strip_prefix(&root).unwrap_or(&manifest).display()
                    );
                }
            }
        }
        for guest in guests.iter().filter(|g| g.wasm.is_none()) {
            eprintln!("warning: guest crate `{}` has no cdylib target, so it builds no component", guest.package);
        }
        if guests.is_empty() {
            bail!("no guest components found: no workspace member under {}", GUEST_DIRS.join("/, ") + "/");
        }
        let packages = brand_packages(&root, &guests)?;
        Ok(Workspace { root, target_dir, guests, packages })
    }

    fn wasm_dir(&self, profile: Profile) -> PathBuf {
        self.target_dir.join(WASM_TARGET).join(profile.dir())
    }
}

/// The brand packages under `brands/`, each with the component its crate
/// builds. No test or store start reads a package's manifest before it is
/// deployed, so a package whose component would not be built (its crate not a
/// workspace member, or not the one its `spin.toml` names) fails the build
/// here rather than at deploy time.
fn brand_packages(root: &Path, guests: &[Guest]) -> Result<Vec<(String, String)>> {
    let mut packages = Vec::new();
    let Ok(entries) = std::fs::read_dir(root.join(PACKAGES_DIR)) else {
        return Ok(packages);
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let manifest = dir.join("spin.toml");
        if !manifest.is_file() {
            continue;
        }
        let shown = manifest.strip_prefix(root).unwrap_or(&manifest).display().to_string();
        let wasm =
            guests.iter().find(|g| same_file(&g.dir, &dir)).and_then(|g| g.wasm.clone()).with_context(|| {
                format!("{shown}: no component crate (a workspace member with a cdylib) next to it")
            })?;
        // A text search, not a TOML parse: xtask stays dependency-light, and
        // the manifest crate's tests check the package in full.
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {shown}"))?;
        if !text.contains(&format!("/{wasm}\"")) {
            bail!("{shown}: no component `source` ends in {wasm}, the file its crate builds");
        }
        packages.push((entry.file_name().to_string_lossy().into_owned(), wasm));
    }
    packages.sort();
    Ok(packages)
}

fn str_field<'a>(value: &'a Value, name: &str) -> Result<&'a str> {
    value[name].as_str().ok_or_else(|| anyhow!("`cargo metadata` output has no string `{name}`"))
}

fn array_field<'a>(value: &'a Value, name: &str) -> Result<&'a Vec<Value>> {
    value[name].as_array().ok_or_else(|| anyhow!("`cargo metadata` output has no array `{name}`"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The cargo that runs us (`CARGO`), in the workspace root.
fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root);
    command
}

/// Runs a command to completion; fails with `what` when it does not succeed.
fn run_step(command: &mut Command, what: &str) -> Result<()> {
    println!("$ {}", display_command(command));
    let status = command.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn display_command(command: &Command) -> String {
    let mut line = String::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            let _ = write!(line, "{}={} ", key.to_string_lossy(), value.to_string_lossy());
        }
    }
    let program = Path::new(command.get_program());
    // `CARGO` is a full path: show the familiar name.
    line.push_str(&program.file_name().unwrap_or(program.as_os_str()).to_string_lossy());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn elapsed(since: Instant) -> String {
    let secs = since.elapsed().as_secs_f64();
    if secs < 60.0 { format!("{secs:.1}s") } else { format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64) }
}

/// Adds the `wasm32-wasip2` target with rustup when its standard library is
/// not installed for the active toolchain.
fn ensure_wasm_target(root: &Path) -> Result<()> {
    let installed = || -> Result<(bool, String)> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let output = Command::new(rustc)
            .args(["--print", "target-libdir", "--target", WASM_TARGET])
            .current_dir(root)
            .output()
            .context("running `rustc --print target-libdir`")?;
        let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok((output.status.success() && !libdir.is_empty() && Path::new(&libdir).is_dir(), libdir))
    };
    let (ok, libdir) = installed()?;
    if ok {
        return Ok(());
    }
    println!("the {WASM_TARGET} target is not installed for this toolchain (no {libdir})");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]).current_dir(root);
    println!("$ {}", display_command(&rustup));
    match rustup.status() {
        Ok(status) if status.success() => {}
        Ok(status) => bail!("`rustup target add {WASM_TARGET}` failed ({status})"),
        Err(err) if err.kind() == ErrorKind::NotFound => bail!(
            "the {WASM_TARGET} target is not installed and rustup is not available to add it: \
             install Rust with rustup (https://rustup.rs), or install the {WASM_TARGET} standard \
             library for your Rust distribution"
        ),
        Err(err) => return Err(err).context("running rustup"),
    }
    if !installed()?.0 {
        bail!("`rustup target add {WASM_TARGET}` succeeded but rustc still has no {WASM_TARGET} standard library");
    }
    Ok(())
}

/// Builds every guest component in one cargo invocation; returns where the
/// `.wasm` files are.
fn build(ws: &Workspace, profile: Profile) -> Result<PathBuf> {
    ensure_wasm_target(&ws.root)?;
    let mut command = cargo(&ws.root);
    command.args(["build", "--target", WASM_TARGET]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    for guest in &ws.guests {
        command.args(["-p", &guest.package]);
    }
    run_step(&mut command, "building the components")?;

    let dir = ws.wasm_dir(profile);
    println!("components ({WASM_TARGET}, {}) in {}:", profile.dir(), dir.display());
    for guest in &ws.guests {
        let Some(file) = &guest.wasm else { continue };
        match std::fs::metadata(dir.join(file)) {
            Ok(meta) => println!("  {file:<32} {:>8} KiB  ({})", meta.len() / 1024, guest.package),
            Err(_) => eprintln!("warning: {file} of `{}` was not produced", guest.package),
        }
    }
    for (brand, file) in &ws.packages {
        println!("  brand package {brand} (brands/{brand}/spin.toml, not in spin.toml): {file}");
    }
    Ok(dir)
}

fn up(args: Vec<OsString>) -> Result<ExitCode> {
    // `cargo xtask up -- --flag` and `cargo xtask up --flag` both pass `--flag`.
    let args = match args.first() {
        Some(first) if first == "--" => args[1..].to_vec(),
        _ => args,
    };
    let ws = Workspace::load()?;
    let wasm_dir = build(&ws, Profile::Release)?;
    run_step(cargo(&ws.root).args(["build", "--release", "-p", HOST]), "building the host")?;

    let binary = ws.target_dir.join("release").join(format!("{HOST}{}", std::env::consts::EXE_SUFFIX));
    let mut command = Command::new(&binary);
    command.args(["up", "--manifest", "spin.toml"]).args(&args).env(WASM_DIR_ENV, &wasm_dir).current_dir(&ws.root);
    println!("$ {}", display_command(&command));
    // spin.toml's secrets have no defaults: the local store takes demo.env's
    // (and its WhatsApp sandbox settings). What the environment sets wins.
    let path = ws.root.join("demo.env");
    let demo = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let unset: Vec<_> = env_file(&demo).into_iter().filter(|(key, _)| std::env::var_os(key).is_none()).collect();
    if !unset.is_empty() {
        println!("  with {} demo values from demo.env (local use only)", unset.len());
    }
    command.envs(unset);
    exec(command, &binary)
}

/// The `KEY=value` lines of a `demo.env`-style file.
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

/// Becomes the store: on Unix the process is replaced, so Ctrl-C, other
/// signals and the exit code are the store's own.
#[cfg(unix)]
fn exec(mut command: Command, binary: &Path) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let err = command.exec();
    Err(err).with_context(|| format!("running {}", binary.display()))
}

#[cfg(not(unix))]
fn exec(mut command: Command, binary: &Path) -> Result<ExitCode> {
    // Ctrl-C reaches every process of the console: the store handles it and
    // we report how it ended.
    let status = command.status().with_context(|| format!("running {}", binary.display()))?;
    Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
}

/// Elapsed time of each phase, printed at the end whether it succeeded or not.
struct Phases {
    started: Instant,
    done: Vec<(&'static str, String)>,
}

impl Phases {
    fn new() -> Self {
        Phases { started: Instant::now(), done: Vec::new() }
    }

    fn run<T>(&mut self, name: &'static str, phase: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let result = phase();
        let outcome = if result.is_ok() { "" } else { " (failed)" };
        self.done.push((name, format!("{}{outcome}", elapsed(started))));
        result
    }

    fn summary(&self) -> String {
        let mut line = String::from("xtask:");
        for (name, time) in &self.done {
            let _ = write!(line, " {name} {time},");
        }
        let _ = write!(line, " total {}", elapsed(self.started));
        line
    }
}

fn test(args: Vec<OsString>) -> Result<ExitCode> {
    let mut phases = Phases::new();
    let result = test_phases(&mut phases, &args);
    println!("\n{}", phases.summary());
    result.map(|()| ExitCode::SUCCESS)
}

fn test_phases(phases: &mut Phases, args: &[OsString]) -> Result<()> {
    let ws = Workspace::load()?;
    phases.run("services", ensure_services)?;
    phases.run("tools", || ensure_manifest_validator(&ws.root))?;
    phases.run("browser", ensure_browser)?;
    report_spin();
    let wasm_dir = phases.run("build", || build(&ws, Profile::Release))?;
    // The end-to-end tests run the host as a process; cargo builds a
    // binary for the integration tests of its own package only.
    phases.run("host", || run_step(cargo(&ws.root).args(["build", "-p", HOST]), "building the host"))?;

    // Arguments before `--` are cargo's; after it, the test binaries'.
    let cargo_args: Vec<&str> =
        args.iter().map(|a| a.to_str().unwrap_or_default()).take_while(|a| *a != "--").collect();
    let has = |flags: &[&str]| {
        cargo_args.iter().any(|arg| flags.iter().any(|flag| arg == flag || arg.starts_with(&format!("{flag}="))))
    };
    let picks_packages = has(&["--package", "--workspace", "--all"]) || cargo_args.iter().any(|a| a.starts_with("-p"));
    let picks_targets = has(&[
        "--lib",
        "--bin",
        "--bins",
        "--example",
        "--examples",
        "--test",
        "--tests",
        "--bench",
        "--benches",
        "--all-targets",
        "--doc",
    ]);

    // Every package natively (the guest crates' own unit tests too) and every
    // target: unit and integration tests, and benches run once in test mode
    // so they cannot rot. `--all-targets` leaves out doctests: they come next.
    let mut command = cargo(&ws.root);
    command.arg("test");
    if !picks_packages {
        command.arg("--workspace");
    }
    if !picks_targets {
        command.arg("--all-targets");
    }
    // Every test host's log lines and what the test customers wrote are
    // kept here, for the check after the suite that no log names a customer.
    let logs = ws.target_dir.join("test-logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    command.args(args).env(WASM_DIR_ENV, &wasm_dir).env(TEST_LOG_DIR_ENV, &logs);
    phases.run("test", || run_step(&mut command, "the tests"))?;

    if !picks_packages && !picks_targets {
        let mut command = cargo(&ws.root);
        command
            // `--workspace`, as the run before: with the same packages the
            // test binary it built is reused, not built again.
            .args(["test", "--workspace", "--test", "all", "--", "--ignored", "--exact"])
            .arg("logs::the_suite_logs_hold_no_phone_number_and_no_message_text")
            .env(WASM_DIR_ENV, &wasm_dir)
            .env(TEST_LOG_DIR_ENV, &logs);
        phases.run("logs", || run_step(&mut command, "the check of the suite's logs"))?;
    }

    if !picks_targets {
        let mut command = cargo(&ws.root);
        command.args(["test", "--doc"]);
        if !picks_packages {
            command.arg("--workspace");
        }
        command.args(args).env(WASM_DIR_ENV, &wasm_dir);
        phases.run("doctests", || run_step(&mut command, "the doctests"))?;
    }
    Ok(())
}

fn bench(args: Vec<OsString>) -> Result<ExitCode> {
    let ws = Workspace::load()?;
    if args.is_empty() {
        return bench_table(&ws);
    }
    let wasm_dir = build(&ws, Profile::Release)?;
    let mut command = cargo(&ws.root);
    command.args(["bench", "-p", HOST]).args(&args).env(WASM_DIR_ENV, &wasm_dir);
    run_step(&mut command, "the benchmarks")?;
    Ok(ExitCode::SUCCESS)
}

/// The cargo profile the table's benches are built with, when not cargo bench's own.
const BENCH_PROFILE_ENV: &str = "AGENT_STORE_BENCH_PROFILE";
/// Where the benches append the rows they measured (host/benches/support/report.rs).
const BENCH_ROWS_ENV: &str = "AGENT_STORE_BENCH_ROWS";
/// The criterion benches of the table's rows 1 and 5, as a criterion filter.
const INVOKE_FILTER: &str =
    "^(deliver/noop/pooling|breakdown/noop/pooling-resident/instantiate|deliver/catalog-search/snapshot)$";
/// Every row of issue 13's table, in its order.
const TABLE_ROWS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9a", "9b", "9c"];

/// One criterion estimate: the median and its 95 % interval, in µs.
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
}

impl Estimate {
    /// `<criterion>/<group>/<bench>/new/estimates.json`, names made safe as
    /// criterion makes them (`/` → `_`).
    fn read(criterion: &Path, group: &str, bench: &str) -> Option<Self> {
        let safe = |name: &str| name.replace(['/', '\\', '?', '"', '*', '<', '>', ':', '|'], "_");
        let path = criterion.join(safe(group)).join(safe(bench)).join("new/estimates.json");
        let json: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        let median = &json["median"];
        let us = |v: &Value| v.as_f64().map(|ns| ns / 1000.0);
        Some(Self {
            median: us(&median["point_estimate"])?,
            low: us(&median["confidence_interval"]["lower_bound"])?,
            high: us(&median["confidence_interval"]["upper_bound"])?,
        })
    }

    fn show(&self) -> String {
        format!("{:.1} µs ({:.1}–{:.1})", self.median, self.low, self.high)
    }
}

/// Rows 1 and 5, from what criterion wrote.
fn criterion_rows(criterion: &Path) -> Vec<Value> {
    let noop = Estimate::read(criterion, "deliver/noop", "pooling");
    let bare = Estimate::read(criterion, "breakdown/noop", "pooling-resident/instantiate");
    let search = Estimate::read(criterion, "deliver/catalog-search", "snapshot");
    let mut rows = Vec::new();
    if let (Some(noop), Some(bare)) = (&noop, &bare) {
        let ratio = noop.median / bare.median;
        rows.push(serde_json::json!({
            "row": "1",
            "measure": "one event through the no-op component, pooling (criterion median, 95 % interval)",
            "figure": noop.show(),
            "baseline": format!("wasmtime instantiation alone {}", bare.show()),
            "ratio": ratio,
            "goal": "≤ 30 µs (Intel class) and ≤ 3× bare instantiation",
            "met": noop.median <= 30.0 && ratio <= 3.0,
        }));
    }
    if let (Some(noop), Some(search)) = (&noop, &search) {
        let ratio = noop.median / search.median;
        rows.push(serde_json::json!({
            "row": "5",
            "measure": "a catalog search (the README's query), events/s against a no-op event's",
            "figure": format!("{} ({:.0}/s on one core)", search.show(), 1e6 / search.median),
            "baseline": format!("no-op event {} ({:.0}/s)", noop.show(), 1e6 / noop.median),
            "ratio": ratio,
            "goal": "≥ 0.5 of the no-op rate",
            "met": ratio >= 0.5,
        }));
    }
    rows
}

/// The 1-minute load average, sampled while the benches run.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}")
}

/// `cargo xtask bench` with no arguments: every bench behind issue 13's
/// table, one after the other, then the table.
fn bench_table(ws: &Workspace) -> Result<ExitCode> {
    ensure_services()?;
    let wasm_dir = build(ws, Profile::Release)?;
    let criterion = ws.target_dir.join("criterion");
    let rows_file = ws.target_dir.join("bench-rows.jsonl");
    let _ = std::fs::remove_file(&rows_file);
    let spin = std::env::var_os("SPIN").filter(|s| !s.is_empty()).map(PathBuf::from).or_else(|| {
        let shared = ws.root.join("../shared/bin/spin");
        let on_path = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("spin").is_file()));
        (!on_path && shared.is_file()).then_some(shared)
    });

    let loads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (loads, sampling) = (loads.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(load) = load_average() {
                    loads.lock().unwrap().push(load);
                }
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    };
    let started = Instant::now();
    let steps: [(&str, &[&str]); 4] = [
        ("invoke", &["--bench", "invoke", "--", INVOKE_FILTER]),
        ("broker", &["--bench", "broker"]),
        ("load", &["--bench", "load"]),
        ("cold_start", &["--bench", "cold_start"]),
    ];
    // cargo bench's own profile (release) unless this names another: `dev`
    // (dependencies at opt-level 3, our crates at 1) is what the earlier
    // sections of BENCHMARKS.md were measured with.
    let profile = std::env::var(BENCH_PROFILE_ENV).ok().filter(|p| !p.is_empty());
    let mut failed = Vec::new();
    for (name, args) in steps {
        let mut command = cargo(&ws.root);
        command.args(["bench", "-p", HOST]);
        if let Some(profile) = &profile {
            command.args(["--profile", profile]);
        }
        command
            .args(args)
            .env(WASM_DIR_ENV, &wasm_dir)
            .env("CRITERION_HOME", &criterion)
            .env(BENCH_ROWS_ENV, &rows_file);
        if let Some(spin) = &spin {
            command.env("SPIN", spin);
        }
        if let Err(e) = run_step(&mut command, &format!("the {name} bench")) {
            eprintln!("{e:#}");
            failed.push(name);
        }
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();

    let mut rows = criterion_rows(&criterion);
    if let Ok(text) = std::fs::read_to_string(&rows_file) {
        rows.extend(text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()));
    }
    let loads = loads.lock().unwrap().clone();
    let (low, high) = loads.iter().fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    let mut table = format!(
        "\n## issue 13, one run of `cargo xtask bench` ({}, profile {})\n\nmachine: {}; load average (1 min) during the run {:.2}–{:.2}\n\n",
        elapsed(started),
        profile.as_deref().unwrap_or("bench"),
        machine(),
        if loads.is_empty() { 0.0 } else { low },
        if loads.is_empty() { 0.0 } else { high },
    );
    table.push_str("| row | measure | figure | baseline | ratio | goal | met |\n|---|---|---|---|---|---|---|\n");
    for id in TABLE_ROWS {
        let found: Vec<&Value> = rows.iter().filter(|r| r["row"] == *id).collect();
        if found.is_empty() {
            let _ = writeln!(table, "| {id} | not measured (a bench failed, see above) | | | | | |");
        }
        for row in found {
            let text = |name: &str| row[name].as_str().unwrap_or_default().to_string();
            let ratio = row["ratio"].as_f64().map(|r| format!("{r:.2}")).unwrap_or_else(|| "—".into());
            let met = match row["met"].as_bool() {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "—",
            };
            let _ = writeln!(
                table,
                "| {id} | {} | {} | {} | {ratio} | {} | {met} |",
                text("measure"),
                text("figure"),
                text("baseline"),
                text("goal")
            );
        }
    }
    println!("{table}");
    let saved = ws.target_dir.join("bench-table.md");
    std::fs::write(&saved, &table).with_context(|| format!("writing {}", saved.display()))?;
    println!("(also in {})", saved.display());
    if !failed.is_empty() {
        bail!("these benches failed: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the fuzz runner and runs it with `args`; it needs no component.
fn fuzz(args: Vec<OsString>) -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let artifacts = ws.target_dir.join("fuzz-artifacts");
    let mut command = cargo(&ws.root);
    command.args(["run", "--profile", FUZZ_PROFILE, "-p", FUZZ, "--", "--artifacts"]).arg(&artifacts).args(&args);
    run_step(&mut command, "the fuzz targets")?;
    Ok(ExitCode::SUCCESS)
}

/// A service the tests use for real, and how to start it when it is down.
struct Service {
    name: &'static str,
    addr: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    /// How long it may take to accept connections once started.
    timeout: Duration,
}

const SERVICES: &[Service] = &[
    Service {
        name: "RabbitMQ",
        addr: "127.0.0.1:5672",
        program: "rabbitmq-server",
        args: &["-detached"],
        timeout: Duration::from_secs(90),
    },
    Service {
        name: "Redis",
        addr: "127.0.0.1:6379",
        program: "redis-server",
        args: &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        timeout: Duration::from_secs(20),
    },
];

fn reachable(addr: &str) -> bool {
    addr.parse::<SocketAddr>().is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
}

/// The Python packages `../shared/tools/validate-k8s` needs, installed with
/// pip when that validator is beside the project and they are missing: the
/// Knative test checks deploy/knative against the real CRD schemas with it.
fn ensure_manifest_validator(root: &Path) -> Result<()> {
    if !root.join("../shared/tools/validate-k8s").exists() {
        return Ok(());
    }
    let present = Command::new("python3")
        .args(["-c", "import jsonschema, yaml, kubernetes_validate"])
        .stderr(std::process::Stdio::null())
        .status();
    if present.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "install", "--quiet", "jsonschema", "pyyaml", "kubernetes-validate"]);
    println!("$ {}", display_command(&pip));
    let status = pip.status().context("running pip")?;
    if !status.success() {
        bail!("installing the manifest validator's Python packages failed ({status})");
    }
    Ok(())
}

/// Debian's packages of the browser the sellers' console tests drive
/// (tests/all/console.rs): Chromium, and chromedriver to drive it.
const BROWSER_PACKAGES: &[&str] = &["chromium", "chromium-driver"];

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Installs Chromium and chromedriver with apt-get when they are missing.
/// Where they cannot be installed (no apt-get, not root, no network) the
/// run goes on and the console's browser tests say they skip.
fn ensure_browser() -> Result<()> {
    if on_path("chromedriver") && (on_path("chromium") || Path::new("/usr/lib/chromium/chromium").is_file()) {
        println!("chromium and chromedriver are installed");
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !on_path("apt-get") || !root {
        println!(
            "chromium/chromedriver are missing and cannot be installed here (apt-get as root): \
             the console's browser tests will skip; install them with `apt-get install -y {}`",
            BROWSER_PACKAGES.join(" ")
        );
        return Ok(());
    }
    let install = || {
        let mut apt = Command::new("apt-get");
        apt.args(["install", "-y", "--no-install-recommends"]).args(BROWSER_PACKAGES);
        apt.env("DEBIAN_FRONTEND", "noninteractive");
        println!("$ {}", display_command(&apt));
        apt.status().is_ok_and(|s| s.success())
    };
    // A fresh machine may not have package lists yet.
    if !install() {
        let _ = Command::new("apt-get").arg("update").status();
        if !install() {
            println!("installing {} failed: the console's browser tests will skip", BROWSER_PACKAGES.join(" "));
        }
    }
    Ok(())
}

/// The stock Spin test (tests/all/spin.rs) passes without running when it
/// finds no Spin CLI, and cargo shows no passing test's output: say here,
/// where the run's log shows it, which Spin it runs or that it skips.
fn report_spin() {
    let named = std::env::var_os("SPIN").filter(|s| !s.is_empty()).map(PathBuf::from);
    let on_path = || {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths).map(|dir| dir.join("spin")).find(|p| p.is_file())
    };
    match named.or_else(on_path) {
        Some(spin) => println!("spin: {} (tests/all/spin.rs runs the store under it)", spin.display()),
        None => println!("spin: none on PATH and SPIN is not set: tests/all/spin.rs skips its `spin up` test"),
    }
}

fn ensure_services() -> Result<()> {
    for service in SERVICES {
        if reachable(service.addr) {
            println!("{} is up on {}", service.name, service.addr);
            continue;
        }
        start(service)?;
    }
    Ok(())
}

fn start(service: &Service) -> Result<()> {
    let Service { name, addr, program, .. } = service;
    let mut command = Command::new(program);
    command.args(service.args);
    let shown = display_command(&command).replace("--save  ", "--save \"\" ");
    println!("{name} is not reachable on {addr}: starting it");
    if *program == "redis-server" {
        // Present wherever the Debian package is installed; harmless otherwise.
        let _ = std::fs::create_dir_all("/var/lib/redis");
        let _ = std::fs::create_dir_all("/var/log/redis");
    }
    println!("$ {shown}");
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => bail!("`{shown}` failed ({status}); the tests need {name} on {addr}"),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            bail!("{name} is not running on {addr} and `{program}` is not installed; the tests need {name} there")
        }
        Err(err) => return Err(err).with_context(|| format!("running `{shown}`")),
    }

    let started = Instant::now();
    while !reachable(addr) {
        if started.elapsed() > service.timeout {
            bail!(
                "{name} was started (`{shown}`) but did not accept connections on {addr} within {}s; see its logs",
                service.timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if *program == "rabbitmq-server" {
        // The AMQP listener opens late in the boot; make sure the node has
        // finished starting every plugin too.
        let mut await_startup = Command::new("rabbitmqctl");
        await_startup.args(["await_startup", "--timeout", "60"]);
        match await_startup.status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                bail!("`rabbitmqctl await_startup` failed ({status}) after starting RabbitMQ")
            }
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err).context("running `rabbitmqctl await_startup`"),
        }
    }
    println!("{name} is up on {addr} after {}", elapsed(started));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_mentions_every_command() {
        for command in ["build", "up", "test", "bench", "fuzz"] {
            assert!(HELP.contains(&format!("\n  {command} ")), "{command}");
        }
    }

    #[test]
    fn summary_lists_phases_in_order() {
        let mut phases = Phases::new();
        phases.run("one", || Ok(())).unwrap();
        assert!(phases.run("two", || -> Result<()> { bail!("no") }).is_err());
        let summary = phases.summary();
        assert!(summary.starts_with("xtask: one "), "{summary}");
        assert!(summary.contains(" two ") && summary.contains("(failed)"), "{summary}");
        assert!(summary.contains("total"), "{summary}");
    }

    #[test]
    fn demo_env_lines_are_read_and_comments_skipped() {
        let text = "# demo only\nSPIN_VARIABLE_A=x\n\n  SPIN_VARIABLE_B = a=b \nnot a pair\n";
        assert_eq!(
            env_file(text),
            [("SPIN_VARIABLE_A".to_string(), "x".to_string()), ("SPIN_VARIABLE_B".to_string(), "a=b".to_string())]
        );
        let repo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo.env")).unwrap();
        let keys: Vec<String> = env_file(&repo).into_iter().map(|(key, _)| key).collect();
        for required in ["SPIN_VARIABLE_WHATSAPP_APP_SECRET", "SPIN_VARIABLE_WHATSAPP_SANDBOX"] {
            assert!(keys.iter().any(|k| k == required), "{required} in {keys:?}");
        }
    }

    #[test]
    fn brand_packages_are_built_with_the_other_components() -> Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let seller = |wasm: &str| Guest {
            package: "seller-sports".into(),
            dir: root.join("brands/sports"),
            wasm: Some(wasm.into()),
        };
        let packages = brand_packages(&root, &[seller("seller_sports.wasm")])?;
        assert!(packages.contains(&("sports".to_string(), "seller_sports.wasm".to_string())), "{packages:?}");

        // A package whose manifest names another file than its crate builds.
        let err = brand_packages(&root, &[seller("seller_sport.wasm")]).unwrap_err().to_string();
        assert!(err.contains("brands/sports/spin.toml") && err.contains("seller_sport.wasm"), "{err}");
        // A package with no crate of its own.
        let err = brand_packages(&root, &[]).unwrap_err().to_string();
        assert!(err.contains("no component crate"), "{err}");
        Ok(())
    }

    #[test]
    fn commands_display_like_a_shell_line() {
        let mut command = Command::new("/usr/bin/cargo");
        command.args(["test", "--workspace"]).env(WASM_DIR_ENV, "/t/w");
        assert_eq!(display_command(&command), "AGENT_STORE_WASM_DIR=/t/w cargo test --workspace");
    }

    #[test]
    fn services_are_started_with_the_documented_commands() {
        let redis = SERVICES.iter().find(|s| s.name == "Redis").unwrap();
        let line = std::iter::once(redis.program)
            .chain(redis.args.iter().map(|a| if a.is_empty() { "\"\"" } else { a }))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            line,
            "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
        );
    }
}
