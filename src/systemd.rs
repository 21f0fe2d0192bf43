//! systemd socket activation: the listening sockets systemd (or another service manager
//! speaking its protocol) passed to this process, as `sd_listen_fds_with_names(3)` finds them.
//!
//! systemd opens the sockets of a `.socket` unit, starts the service with them as
//! descriptors 3, 4, ... and says so in the environment: `LISTEN_FDS` (how many),
//! `LISTEN_PID` (which process they are for: a child that inherits the environment must not
//! take them) and `LISTEN_FDNAMES` (their `FileDescriptorName=`s, colon-separated). Serve one
//! with [`Server::from_std`](crate::Server::from_std) or
//! [`ListenArgs::handle`](crate::net::ListenArgs::handle).
//!
//! # Examples
//!
//! ```no_run
//! use corenet::systemd;
//!
//! // SAFETY: first thing in main: no other thread reads or writes the environment, and
//! // nothing else in the process has taken the descriptors systemd passed.
//! let fds = unsafe { systemd::listen_fds() }?;
//! for fd in &fds {
//!     println!("socket {:?} named {}", fd.fd, fd.name);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first passed descriptor (`SD_LISTEN_FDS_START`): after stdin, stdout and stderr.
pub const LISTEN_FDS_START: RawFd = 3;

/// One socket passed by the service manager.
#[derive(Debug)]
pub struct ListenFd {
    /// The descriptor (close-on-exec from now on).
    pub fd: OwnedFd,
    /// Its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`; the socket unit's
    /// name by default), or `"unknown"` when the manager passed no names.
    pub name: String,
}

/// The sockets passed to this process, in order (descriptors 3, 4, ...); empty when the
/// process was not socket-activated (no `LISTEN_FDS`, or `LISTEN_PID` names another
/// process). Like `sd_listen_fds_with_names(unset_environment = 1)`: each descriptor is made
/// close-on-exec, and `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` are removed from the
/// environment (whatever the outcome), so child processes do not see them and a second call
/// finds nothing.
///
/// # Errors
///
/// `EINVAL` (`ErrorKind::InvalidInput`) for a `LISTEN_PID` or `LISTEN_FDS` that is not a
/// number, or a `LISTEN_FDNAMES` with another count of names than `LISTEN_FDS`; the
/// `fcntl(2)` error (`EBADF`) when a passed descriptor is not open.
///
/// # Safety
///
/// It takes ownership of the descriptors and changes the environment:
///
/// - no other thread may read or write the environment during the call
///   ([`std::env::remove_var`]); call it early in `main`, before starting a runtime or other
///   threads;
/// - nothing else in the process may own descriptors `3..3 + LISTEN_FDS` (no other library
///   took them with `sd_listen_fds`, and the process did not close and reuse them).
pub unsafe fn listen_fds() -> io::Result<Vec<ListenFd>> {
    let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let (pid, fds, names) = (var("LISTEN_PID"), var("LISTEN_FDS"), var("LISTEN_FDNAMES"));
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: the caller guarantees no other thread touches the environment meanwhile.
        unsafe { std::env::remove_var(name) };
    }
    let names = parse(
        pid.as_deref(),
        fds.as_deref(),
        names.as_deref(),
        std::process::id(),
    )?;
    let mut out = Vec::with_capacity(names.len());
    for (fd, name) in (LISTEN_FDS_START..).zip(names) {
        // SAFETY: fcntl on a descriptor number has no memory-safety preconditions; a closed
        // one fails with EBADF, reported below.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor is open (fcntl succeeded), and the caller guarantees nothing
        // else in the process owns it; the environment that named it is gone, so no later
        // call takes it again.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        out.push(ListenFd { fd, name });
    }
    Ok(out)
}

/// The names of the passed descriptors (so their count) from the three variables' values,
/// for the process `me`: empty when they are not for it. The checks and defaults of
/// `sd_listen_fds_with_names`.
fn parse(
    pid: Option<&str>,
    fds: Option<&str>,
    names: Option<&str>,
    me: u32,
) -> io::Result<Vec<String>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let Some(pid) = pid else {
        return Ok(Vec::new());
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| invalid("LISTEN_PID is not a process id"))?;
    if pid != me {
        return Ok(Vec::new());
    }
    let Some(fds) = fds else {
        return Ok(Vec::new());
    };
    let n: usize = fds
        .trim()
        .parse()
        .map_err(|_| invalid("LISTEN_FDS is not a count"))?;
    if n > (RawFd::MAX - LISTEN_FDS_START) as usize {
        return Err(invalid("LISTEN_FDS is too large"));
    }
    match names {
        Some(names) if !names.is_empty() => {
            let names: Vec<String> = names.split(':').map(str::to_owned).collect();
            if names.len() != n {
                return Err(invalid(
                    "LISTEN_FDNAMES does not name LISTEN_FDS descriptors",
                ));
            }
            Ok(names)
        }
        _ => Ok(vec!["unknown".to_owned(); n]),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn not_activated_without_listen_pid_or_listen_fds() {
        assert!(parse(None, Some("2"), None, 7).unwrap().is_empty());
        assert!(parse(Some("7"), None, None, 7).unwrap().is_empty());
    }

    #[test]
    fn another_process_pid_takes_nothing() {
        // A child that inherited its parent's environment: the sockets are not for it.
        assert!(
            parse(Some("8"), Some("2"), Some("a:b"), 7)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn count_and_names_for_this_process() {
        assert_eq!(
            parse(Some("7"), Some("2"), Some("http:admin"), 7).unwrap(),
            ["http", "admin"]
        );
        assert_eq!(parse(Some("7"), Some("0"), None, 7).unwrap().len(), 0);
        // A name may be empty (a colon with nothing on one side).
        assert_eq!(
            parse(Some("7"), Some("2"), Some(":b"), 7).unwrap(),
            ["", "b"]
        );
    }

    #[test]
    fn names_default_to_unknown() {
        assert_eq!(
            parse(Some("7"), Some("2"), None, 7).unwrap(),
            ["unknown", "unknown"]
        );
        assert_eq!(
            parse(Some("7"), Some("1"), Some(""), 7).unwrap(),
            ["unknown"]
        );
    }

    #[test]
    fn malformed_values_are_einval() {
        for (pid, fds, names) in [
            ("x", "1", None),
            ("7", "one", None),
            ("7", "-1", None),
            ("7", "99999999999", None),
            ("7", "2", Some("only-one")),
            ("7", "1", Some("a:b")),
        ] {
            let err = parse(Some(pid), Some(fds), names, 7).unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::InvalidInput,
                "{pid} {fds} {names:?}"
            );
        }
    }
}
