//! How the real-time driver starts a notification command line: as a
//! native process, or through a [`Launcher`].
//!
//! This is how the front performs the model's effect "run this command
//! line" ([`Output::RunCommand`](bitsim_model::Output::RunCommand)), not a
//! BITS rule: the model keeps the program and parameters the job's owner
//! set (`GetNotifyCmdLine` returns them unchanged) and decides when they
//! run and what their outcome means; the launcher only says which process
//! the driver starts for them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

/// A program the driver starts notification command lines with:
/// `LAUNCHER ARGS... PROGRAM PARAMETERS...` instead of
/// `PROGRAM PARAMETERS...`.
///
/// The use it was made for: a job owned by a Windows program under Wine
/// names a Windows program (`C:\windows\System32\bitsadmin.exe`), which a
/// native Linux service cannot start; with the Wine loader as the launcher
/// (`/usr/lib/wine/wine64`, which takes a DOS path, and `WINEPREFIX` in its
/// environment) the program runs in the prefix it was named in.
///
/// The outcome is the launcher's: a launcher that cannot be started is the
/// model's "failed to start" (as a program that cannot be started is
/// without one), and its exit code is the command line's.
///
/// ```
/// use bitsim::realtime::Launcher;
/// let wine = Launcher::new("/usr/lib/wine/wine64").env("WINEPREFIX", "/tmp/prefix");
/// let wine = wine.user_var("BITSIM_USER");
/// let c = wine.command("alice", r"C:\windows\System32\bitsadmin.exe", Some("bitsadmin.exe /complete {0}"));
/// assert_eq!(c.get_program(), "/usr/lib/wine/wine64");
/// let args: Vec<_> = c.get_args().collect();
/// assert_eq!(args, [r"C:\windows\System32\bitsadmin.exe", "/complete", "{0}"]);
/// assert!(c.get_envs().any(|(k, v)| k == "BITSIM_USER" && v == Some("alice".as_ref())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    user_var: Option<OsString>,
}

impl Launcher {
    /// A launcher that runs `program PROGRAM PARAMETERS...`.
    pub fn new(program: impl Into<PathBuf>) -> Launcher {
        Launcher {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            user_var: None,
        }
    }

    /// The same with one more argument before the command line's program.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Launcher {
        self.args.push(arg.into());
        self
    }

    /// The same with `key=value` in the launcher's environment (on top of
    /// the driver's own).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Launcher {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The same, telling the launched program which user it runs as: the
    /// variable `name` in its environment is set to the user the model runs
    /// the command line as (\[CMDLINE\]: BITS starts the program with
    /// `CreateProcessAsUser`, as the user who set the command line). A
    /// launcher cannot switch Unix users; bitsim's Windows side
    /// (`bitsim-com.exe`, hence its `bitsadmin.exe`) takes its user from
    /// `BITSIM_USER`, so under Wine the name is that.
    pub fn user_var(mut self, name: impl Into<OsString>) -> Launcher {
        self.user_var = Some(name.into());
        self
    }

    /// The process started for the command line `program` `parameters`,
    /// run as `user`.
    pub fn command(&self, user: &str, program: &str, parameters: Option<&str>) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args).arg(program).args(arguments(parameters));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(name) = &self.user_var {
            c.env(name, user);
        }
        c
    }
}

/// The process started for the command line `program` `parameters`: with
/// `launcher`, through it; without, the program itself.
pub(crate) fn command(
    launcher: Option<&Launcher>,
    user: &str,
    program: &str,
    parameters: Option<&str>,
) -> Command {
    match launcher {
        Some(l) => l.command(user, program, parameters),
        None => {
            let mut c = Command::new(program);
            c.args(arguments(parameters));
            c
        }
    }
}

/// The arguments of a command line's parameters. \[CMDLINE\]: BITS runs the
/// program with the parameters as its command line, whose first parameter
/// "must be the program"; here they are split on whitespace and that first
/// one is the program's own name (argv\[0\]), not an argument.
fn arguments(parameters: Option<&str>) -> impl Iterator<Item = &str> {
    parameters
        .into_iter()
        .flat_map(|p| p.split_whitespace().skip(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &Command) -> Vec<String> {
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn without_a_launcher_the_program_runs_itself() {
        let c = command(None, "u", "/bin/prog", Some("prog  a\tb"));
        assert_eq!(c.get_program(), "/bin/prog");
        assert_eq!(args(&c), ["a", "b"]);
        let c = command(None, "u", "/bin/prog", None);
        assert!(args(&c).is_empty());
    }

    #[test]
    fn a_launcher_comes_first_with_its_arguments_and_environment() {
        let l = Launcher::new("/usr/bin/env")
            .arg("-u")
            .arg("X")
            .env("WINEPREFIX", "/p");
        let c = command(
            Some(&l),
            "alice",
            r"C:\w\bitsadmin.exe",
            Some("bitsadmin.exe /complete {G}"),
        );
        assert_eq!(c.get_program(), "/usr/bin/env");
        assert_eq!(
            args(&c),
            ["-u", "X", r"C:\w\bitsadmin.exe", "/complete", "{G}"]
        );
        let env: Vec<_> = c.get_envs().collect();
        assert_eq!(env, [("WINEPREFIX".as_ref(), Some("/p".as_ref()))]);
        // No parameters: the program alone.
        assert_eq!(
            args(&command(Some(&l), "alice", "p", None)),
            ["-u", "X", "p"]
        );
    }

    #[test]
    fn a_launcher_with_a_user_variable_names_the_user_in_it() {
        let l = Launcher::new("/usr/bin/env").user_var("BITSIM_USER");
        let env = |user| {
            let c = command(Some(&l), user, "p", None);
            c.get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
                .collect::<Vec<_>>()
        };
        assert_eq!(env("bob"), [("BITSIM_USER".into(), Some("bob".into()))]);
        assert_eq!(env("alice"), [("BITSIM_USER".into(), Some("alice".into()))]);
        // Without one the environment is the driver's.
        let c = command(Some(&Launcher::new("/usr/bin/env")), "bob", "p", None);
        assert_eq!(c.get_envs().count(), 0);
    }
}
