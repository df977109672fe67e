//! `bitsim wine`: an unmodified Windows BITS program under Wine, served by
//! bitsim (`bitsim-com.exe` in the prefix, `bitsim service` here).
//!
//! * `install --service ADDR`: registers `bitsim-com.exe` as the prefix's
//!   `CLSID_BackgroundCopyManager` server, forwarding to `ADDR`. A prefix
//!   that does not exist yet is made first (`wineboot -i`), and when the
//!   prefix's Wine is older than 8.13, which lacks `ProcessPrng` (every
//!   Rust `.exe` needs it), a `bcryptprimitives.dll` that exports it goes
//!   into the prefix's `system32` first: `--prng-shim DLL`
//!   (`BITSIM_PRNG_SHIM`), else built from the source bitsim carries
//!   (`crates/bitsim-cli/wine/processprng-shim.c`, inside the crate so
//!   that a packaged `bitsim` has it too) with mingw-w64's
//!   `x86_64-w64-mingw32-gcc` (`BITSIM_MINGW_GCC`). So `install` and `run`
//!   work on a fresh prefix by themselves. When the prefix has no
//!   `bitsadmin.exe` (Wine 8.0 has none), `bitsim-com.exe` puts itself
//!   there as one (a BITS client, see the `bitsim-com` crate), and
//!   `uninstall` removes only that.
//! * `uninstall`: gives the CLSID back to the prefix's own BITS;
//! * `run [--clock MODE] [--world simulated|http] [--scenario FILE] --
//!   PROGRAM.exe ARGS`: starts a
//!   service on a free loopback port, installs, runs the program under
//!   Wine, prints the trace of every job when the program exits, and
//!   uninstalls. Its exit status is the program's. `--clock` is the
//!   service's (`bitsim service --clock`): `scaled:N` (the default,
//!   `scaled:600`: ten virtual minutes a second), `real`, or `virtual`,
//!   where time moves only when a client calls `clock.advance` on the
//!   address printed on stderr (a test that drives the program). `--scale
//!   N`, the older spelling, is `--clock scaled:N`. With a clock that runs
//!   by itself the service sends a notification while others are
//!   unanswered, as BITS does (four per user at most); with `virtual` it
//!   waits for each answer before time moves. `--world http` is the
//!   service's too: real transfers between the program's files (their
//!   Linux paths, which `bitsim-com.exe` hands the service) and real
//!   servers, on the real clock; the service starts the program's
//!   notification command lines (which name Windows programs, e.g.
//!   `C:\windows\System32\bitsadmin.exe /complete {GUID}`) with the Wine
//!   loader in the prefix (`bitsim service --launcher`). `--cpus
//!   one|all|LIST` (default `one`) is where the service and the Wine
//!   session run: on one CPU a COM call takes a fifth of the time it takes
//!   across CPUs on a virtual machine (see the `cpus` module).
//!
//! How the server reaches the program, and what it serves: the docs of the
//! `bitsim-com` crate.

use crate::cpus::Cpus;
use anyhow::{Context, bail};
use bitsim::realtime::Launcher;
use bitsim_com::proto::{Connection, Handler};
use bitsim_service::{Clock, Config, TcpService, World};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Arguments of `bitsim wine`.
#[derive(Debug, clap::Args)]
pub struct WineArgs {
    #[command(subcommand)]
    command: WineCommand,
}

/// Where Wine and bitsim-com.exe are.
#[derive(Debug, clap::Args)]
struct Where {
    /// The Wine prefix (default: $WINEPREFIX, else ~/.wine).
    #[arg(long)]
    prefix: Option<PathBuf>,
    /// bitsim-com.exe (default: $BITSIM_COM_EXE, else beside `bitsim` or in
    /// its target directory's x86_64-pc-windows-gnu/{debug,release}).
    #[arg(long)]
    com_exe: Option<PathBuf>,
    /// A built bcryptprimitives.dll exporting ProcessPrng, for a prefix
    /// whose Wine is older than 8.13 (default: $BITSIM_PRNG_SHIM, else
    /// built with x86_64-w64-mingw32-gcc).
    #[arg(long, value_name = "DLL")]
    prng_shim: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum WineCommand {
    /// Make bitsim-com.exe the prefix's BITS, forwarding to a running
    /// `bitsim service --listen ADDR`.
    Install {
        /// The service's address, e.g. 127.0.0.1:7300.
        #[arg(long)]
        service: String,
        #[command(flatten)]
        at: Where,
    },
    /// Give CLSID_BackgroundCopyManager back to the prefix's own BITS.
    Uninstall {
        #[command(flatten)]
        at: Where,
    },
    /// Start a service, install, run PROGRAM under Wine, print the jobs'
    /// trace, uninstall. Exit status: the program's.
    Run {
        /// The simulated world (servers, files, faults); default: empty.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Seed of the run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How the service's virtual time moves: `scaled:N` (N virtual
        /// seconds per real second; default scaled:600), `real`, or
        /// `virtual` (only by clock.advance on the address printed on
        /// stderr).
        #[arg(long)]
        clock: Option<Clock>,
        /// Where transfers happen: `simulated` (the world of --scenario)
        /// or `http` (real transfers to the files the program names, by
        /// the service's real-time driver; its clock is `real`).
        #[arg(long, default_value = "simulated")]
        world: World,
        /// The older spelling of `--clock scaled:N`.
        #[arg(long, value_name = "N", conflicts_with = "clock", hide = true)]
        scale: Option<u64>,
        /// The CPUs the service and the Wine session (wineserver, the
        /// program, bitsim-com.exe) run on: `one` (default on Linux: the
        /// first CPU this process may use; a COM call is then about five
        /// times faster on a VM), `all` (no pinning), or a list like 0,2-3.
        #[arg(long, value_name = "one|all|LIST", default_value_t = Cpus::default())]
        cpus: Cpus,
        #[command(flatten)]
        at: Where,
        /// The program and its arguments (after `--`).
        #[arg(last = true, required = true)]
        program: Vec<String>,
    },
}

/// The Wine loader: $BITSIM_WINE, Debian's wine64, or wine64/wine on PATH.
fn wine() -> anyhow::Result<PathBuf> {
    if let Some(w) = std::env::var_os("BITSIM_WINE") {
        let w = PathBuf::from(w);
        if w.is_file() {
            return Ok(w);
        }
        bail!("Wine is missing: BITSIM_WINE={} is not a file", w.display());
    }
    let debian = PathBuf::from("/usr/lib/wine/wine64");
    if debian.is_file() {
        return Ok(debian);
    }
    for name in ["wine64", "wine"] {
        if let Some(dir) = std::env::var_os("PATH") {
            for d in std::env::split_paths(&dir) {
                let p = d.join(name);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
    }
    bail!(
        "Wine is missing: install it (Debian: apt-get install wine64) or set BITSIM_WINE to its loader"
    )
}

fn com_exe(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("BITSIM_COM_EXE").map(PathBuf::from))
    {
        if p.is_file() {
            return Ok(p);
        }
        bail!("bitsim-com.exe: {} is not a file", p.display());
    }
    let me = std::env::current_exe().context("cannot find the bitsim executable")?;
    let dir = me.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![dir.join("bitsim-com.exe")];
    if let Some(target) = dir.parent() {
        for profile in ["debug", "release"] {
            candidates.push(
                target
                    .join("x86_64-pc-windows-gnu")
                    .join(profile)
                    .join("bitsim-com.exe"),
            );
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "bitsim-com.exe not found beside bitsim or in its target directory: build it with `cargo build --target x86_64-pc-windows-gnu -p bitsim-com` or pass --com-exe"
        )
    })
}

fn wine_command(wine: &Path, prefix: Option<&Path>) -> Command {
    let mut c = Command::new(wine);
    if let Some(p) = prefix {
        c.env("WINEPREFIX", p);
    }
    if std::env::var_os("WINEDEBUG").is_none() {
        c.env("WINEDEBUG", "-all");
    }
    if std::env::var_os("WINEDLLOVERRIDES").is_none() {
        c.env("WINEDLLOVERRIDES", "mscoree,mshtml=");
    }
    c
}

/// The launcher of notification command lines for `--world http`: the
/// Wine loader in `prefix`, with the environment `wine_command` gives Wine,
/// and the job's owner in `BITSIM_USER` (what `bitsim-com.exe`, hence
/// `bitsadmin.exe`, takes its user from).
fn wine_launcher(wine: &Path, prefix: &Path) -> Launcher {
    let c = wine_command(wine, Some(prefix));
    c.get_envs()
        .filter_map(|(k, v)| Some((k, v?)))
        .fold(Launcher::new(wine), |l, (k, v)| l.env(k, v))
        .user_var("BITSIM_USER")
}

/// Runs `bitsim-com.exe ARGS` in the prefix.
fn com(at: &Where, args: &[&str]) -> anyhow::Result<()> {
    let wine = wine()?;
    let exe = com_exe(at.com_exe.as_deref())?;
    let status = wine_command(&wine, at.prefix.as_deref())
        .arg(&exe)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {}", wine.display()))?;
    if !status.success() {
        bail!("bitsim-com.exe {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `bitsim wine ...`; the exit status.
pub fn run(args: WineArgs) -> anyhow::Result<i32> {
    match args.command {
        WineCommand::Install { service, at } => {
            wine()?;
            com_exe(at.com_exe.as_deref())?;
            prepare(&at)?;
            com(&at, &["install", &service])?;
            Ok(0)
        }
        WineCommand::Uninstall { at } => {
            com(&at, &["uninstall"])?;
            Ok(0)
        }
        WineCommand::Run {
            scenario,
            seed,
            clock,
            world,
            scale,
            cpus,
            at,
            program,
        } => {
            let clock = match (clock, scale) {
                (Some(c), _) => c,
                (None, Some(0)) => bail!("--scale 0: the clock would never move"),
                (None, Some(n)) => Clock::Scaled(n as f64),
                (None, None) if world == World::Http => Clock::Real,
                (None, None) => Clock::Scaled(600.0),
            };
            crate::service_cmd::check_world(world, clock, scenario.as_deref())
                .map_err(anyhow::Error::msg)?;
            run_program(
                scenario.as_deref(),
                seed,
                clock,
                world,
                &cpus,
                &at,
                &program,
            )
        }
    }
}

fn quiet() -> Handler {
    Box::new(|_, _| bitsim_model::Hresult::S_OK)
}

fn run_program(
    scenario: Option<&Path>,
    seed: u64,
    clock: Clock,
    world: World,
    cpus: &Cpus,
    at: &Where,
    program: &[String],
) -> anyhow::Result<i32> {
    let wine = wine()?;
    com_exe(at.com_exe.as_deref())?;
    // Before the service's threads start: they, the Wine loader and what
    // Wine starts from it inherit the CPUs (see `cpus`).
    let pinned = crate::cpus::pin(cpus)?;
    let scenario_world = match scenario {
        Some(p) => bitsim::Scenario::load(p)?,
        None => Config::empty_world(),
    };
    let mut config = Config::new(scenario_world, seed)
        .with_clock(clock)
        .with_world(world);
    if world == World::Http {
        // The program's notification command lines name Windows programs:
        // the service starts them with the Wine loader, in this prefix.
        config = config.with_launcher(wine_launcher(&wine, &prefix_dir(at)?));
    }
    let service = TcpService::bind(config, "127.0.0.1:0").context("cannot listen on loopback")?;
    let addr = service.local_addr();
    if clock.is_virtual() {
        eprintln!(
            "bitsim wine: service on {addr}, clock virtual (it moves by clock.advance on {addr})"
        );
    } else {
        eprintln!("bitsim wine: service on {addr}, clock {clock}, world {world}");
    }
    match pinned {
        Some(on) => eprintln!(
            "bitsim wine: the service and the Wine session run on CPU {} (--cpus {cpus}; --cpus all to not pin)",
            Cpus::List(on)
        ),
        None => {
            eprintln!("bitsim wine: the service and the Wine session run on every CPU (--cpus all)")
        }
    }
    prepare(at)?;
    com(at, &["install", &addr.to_string()])?;

    let status = wine_command(&wine, at.prefix.as_deref())
        .args(program)
        .env("BITSIM_SERVICE", addr.to_string())
        .status()
        .with_context(|| format!("cannot run {}", wine.display()));

    let control = Connection::connect(addr, "bitsim-wine", true, quiet())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let trace = control
        .call("inspect.trace", json!({"since": 0}))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for entry in trace["entries"].as_array().into_iter().flatten() {
        println!("{entry}");
    }
    let uninstalled = com(at, &["uninstall"]);
    let status = status?;
    uninstalled?;
    eprintln!("bitsim wine: {} exited {status}", program[0]);
    Ok(status.code().unwrap_or(1))
}

/// The prefix's directory: `--prefix`, $WINEPREFIX, else ~/.wine.
fn prefix_dir(at: &Where) -> anyhow::Result<PathBuf> {
    if let Some(p) = &at.prefix {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("WINEPREFIX") {
        return Ok(PathBuf::from(p));
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".wine")),
        None => bail!("no Wine prefix: pass --prefix, or set WINEPREFIX or HOME"),
    }
}

/// Makes the prefix usable by `bitsim-com.exe`: created when missing, and
/// given `ProcessPrng` when its Wine lacks it.
fn prepare(at: &Where) -> anyhow::Result<()> {
    let wine = wine()?;
    let prefix = prefix_dir(at)?;
    let system32 = prefix.join("drive_c").join("windows").join("system32");
    let version = wine_version(&wine)?;
    if !system32.is_dir() {
        eprintln!("bitsim wine: making the Wine prefix {}", prefix.display());
        // Its output read through pipes, not sent to /dev/null: with that,
        // Wine 8.0 left the new prefix's services unstarted.
        let out = wine_command(&wine, Some(&prefix))
            .args(["wineboot", "-i"])
            .output()
            .with_context(|| format!("cannot run {}", wine.display()))?;
        wait_for_wineserver(&wine, &prefix);
        if !out.status.success() || !system32.is_dir() {
            bail!(
                "cannot make the Wine prefix {} (wineboot -i: {}): {}",
                prefix.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    if !needs_prng_shim(&version) {
        return Ok(());
    }
    let (dll, built_in) = prng_shim(at.prng_shim.as_deref(), &version)?;
    let to = system32.join("bcryptprimitives.dll");
    let copied = std::fs::copy(&dll, &to);
    if let Some(dir) = built_in {
        let _ = std::fs::remove_dir_all(dir);
    }
    copied.with_context(|| format!("cannot copy {} to {}", dll.display(), to.display()))?;
    tracing::info!(version, to = %to.display(), "ProcessPrng shim in place");
    Ok(())
}

/// `wine --version`, e.g. `wine-8.0 (Debian 8.0~repack-4)`.
fn wine_version(wine: &Path) -> anyhow::Result<String> {
    let out = Command::new(wine)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", wine.display()))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() {
        bail!(
            "{} --version did not say which Wine it is ({})",
            wine.display(),
            out.status
        );
    }
    Ok(v)
}

/// Whether a Wine of this `--version` lacks `ProcessPrng` (added in 8.13).
/// A version that cannot be read is taken as lacking it: the shim does no
/// harm on a Wine that has the export, a missing one stops every Rust .exe.
fn needs_prng_shim(version: &str) -> bool {
    let v = version.trim_start_matches("wine-");
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    match major {
        Some(major) => (major, minor) < (8, 13),
        None => true,
    }
}

/// The shim's source, carried by bitsim so that a prefix can get it
/// without the repository at hand.
const PRNG_SHIM_SOURCE: &str = include_str!("../wine/processprng-shim.c");

/// The ProcessPrng DLL: given, or built with mingw-w64 into a temporary
/// directory (returned too, for the caller to delete).
fn prng_shim(given: Option<&Path>, version: &str) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    if let Some(p) = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("BITSIM_PRNG_SHIM").map(PathBuf::from))
    {
        if p.is_file() {
            return Ok((p, None));
        }
        bail!("the ProcessPrng shim: {} is not a file", p.display());
    }
    let gcc = std::env::var_os("BITSIM_MINGW_GCC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("x86_64-w64-mingw32-gcc"));
    let dir = std::env::temp_dir().join(format!("bitsim-wine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let src = dir.join("processprng-shim.c");
    let dll = dir.join("bcryptprimitives.dll");
    std::fs::write(&src, PRNG_SHIM_SOURCE)
        .with_context(|| format!("cannot write {}", src.display()))?;
    let built = Command::new(&gcc)
        .args(["-shared", "-O2", "-s", "-o"])
        .arg(&dll)
        .arg(&src)
        .arg("-ladvapi32")
        .output();
    let _ = std::fs::remove_file(&src);
    let failed = match built {
        Ok(out) if out.status.success() && dll.is_file() => None,
        Ok(out) => Some(format!(
            "{} failed ({}): {}",
            gcc.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run {}: {e}", gcc.display())),
    };
    if let Some(why) = failed {
        let _ = std::fs::remove_dir_all(&dir);
        bail!(
            "this prefix's Wine ({version}) lacks ProcessPrng, which bitsim-com.exe needs, and the shim cannot be built: {why}; install mingw-w64 (Debian: apt-get install gcc-mingw-w64-x86-64), set BITSIM_MINGW_GCC, or pass --prng-shim DLL"
        );
    }
    Ok((dll, Some(dir)))
}

/// Waits until the prefix's wineserver has written everything (its
/// registry) and left; without a wineserver beside the loader, a short
/// wait for the same.
fn wait_for_wineserver(wine: &Path, prefix: &Path) {
    let dir = wine.parent().unwrap_or(Path::new("."));
    let server = ["wineserver64", "wineserver"]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    match server {
        Some(s) => {
            let _ = Command::new(s).arg("-w").env("WINEPREFIX", prefix).status();
        }
        None => std::thread::sleep(Duration::from_secs(3)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--world http`'s launcher is the Wine loader with the prefix in its
    /// environment: a command line `C:\...\bitsadmin.exe /complete {G}`
    /// becomes `wine64 C:\...\bitsadmin.exe /complete {G}` in that prefix,
    /// as the job's owner.
    #[test]
    fn the_launcher_is_the_wine_loader_in_the_prefix() {
        let l = wine_launcher(Path::new("/usr/lib/wine/wine64"), Path::new("/p/prefix"));
        let c = l.command(
            "bob",
            r"C:\windows\System32\bitsadmin.exe",
            Some("bitsadmin.exe /complete {G}"),
        );
        assert_eq!(c.get_program(), "/usr/lib/wine/wine64");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(
            args,
            [r"C:\windows\System32\bitsadmin.exe", "/complete", "{G}"]
        );
        let prefix = c
            .get_envs()
            .find(|(k, _)| *k == "WINEPREFIX")
            .and_then(|(_, v)| v);
        assert_eq!(prefix, Some(std::ffi::OsStr::new("/p/prefix")));
        // The job's owner, as bitsim-com.exe reads it.
        let user = c
            .get_envs()
            .find(|(k, _)| *k == "BITSIM_USER")
            .and_then(|(_, v)| v);
        assert_eq!(user, Some(std::ffi::OsStr::new("bob")));
    }
}
