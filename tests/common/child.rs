//! Child processes running the test binary itself: a test that needs a process of its own
//! (a lowered descriptor limit, SIGPIPE at its default action, a server whose memory and CPU
//! time are measured from outside) spawns `current_exe` with [`ROLE_ENV`] naming the child's
//! role; the binary's `child_entry` test (a no-op without the variable) runs that role.
//!
//! A child talks back on stdout in lines that start with [`LINE_PREFIX`]; it exits when its
//! stdin closes, so a parent that fails (or is killed) never leaves one behind. The parent
//! side, [`Child`], also reads the child's CPU time, resident memory and descriptor count
//! from `/proc`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The environment variable that selects a child's role (absent in a normal test run).
pub const ROLE_ENV: &str = "CORENET_TEST_CHILD";

/// Lines a child prints for its parent carry this tag (libtest's own output does not).
pub const LINE_PREFIX: &str = "@child ";

/// The role this process was started with, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Child side: prints one line for the parent.
pub fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{LINE_PREFIX}{line}");
    let _ = out.flush();
}

/// Child side: blocks until the parent closes our stdin (or dies).
pub fn wait_for_parent() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// Child side: sets the soft RLIMIT_NOFILE to `soft` (never above the hard limit).
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on 64-bit Linux only
pub fn set_nofile(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer for the duration of the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = (soft as libc::rlim_t).min(lim.rlim_max);
    // SAFETY: a valid rlimit that outlives the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    lim.rlim_cur as u64
}

/// A running child: its `@child` lines, its `/proc` figures; killed on drop.
pub struct Child {
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    role: String,
}

impl Child {
    /// Starts this test binary's `entry` test (exact name) with `role`, plus `env`.
    pub fn spawn(entry: &str, role: &str, env: &[(&str, String)]) -> Child {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args([entry, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning child {role}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("child-out:{role}"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    // libtest may have started the line ("test child_entry ... ").
                    if let Some(at) = line.find(LINE_PREFIX) {
                        if tx.send(line[at + LINE_PREFIX.len()..].to_owned()).is_err() {
                            return;
                        }
                    }
                }
            })
            .expect("spawn child reader");
        Child {
            stdin: child.stdin.take(),
            child,
            lines,
            role: role.to_owned(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the child says, within `limit`.
    pub fn line(&self, limit: Duration) -> String {
        self.lines
            .recv_timeout(limit)
            .unwrap_or_else(|e| panic!("child {} said nothing within {limit:?} ({e:?})", self.role))
    }

    /// Every line the child says until its output closes (it exited) or `limit` passes.
    pub fn lines_until_exit(&self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(line);
        }
        out
    }

    /// The value of the next line of the form `key=value`.
    pub fn value(&self, key: &str, limit: Duration) -> String {
        let line = self.line(limit);
        line.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .unwrap_or_else(|| panic!("child {}: expected {key}=..., got {line:?}", self.role))
            .to_owned()
    }

    /// User + system CPU time the child has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// The child's resident memory in KiB (`/proc/<pid>/statm`).
    pub fn rss_kib(&self) -> u64 {
        statm_rss_kib(&format!("/proc/{}/statm", self.pid()))
    }

    /// The child's peak resident memory in KiB (`VmHWM` in `/proc/<pid>/status`): the most it
    /// has held at once since it started, however briefly, so no sampling can miss a spike.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(&format!("/proc/{}/status", self.pid()), "VmHWM")
    }

    /// The child's open descriptors.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Polls `cond` every 20 ms for up to `limit`; true once it holds.
    pub fn wait_until(&self, limit: Duration, mut cond: impl FnMut(&Child) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes the child's stdin (its cue to exit) and waits up to `limit` for its status.
    pub fn finish(mut self, limit: Duration) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "child {} did not exit within {limit:?}",
                self.role
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident memory in KiB from a `statm` file.
pub fn statm_rss_kib(path: &str) -> u64 {
    let statm = std::fs::read_to_string(path).unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page / 1024
}

/// The `key:  N kB` figure of a `/proc/<pid>/status` file, in KiB.
pub fn status_kib(path: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{path}: no {key} figure"))
}
