//! The one place the backend is chosen: forced by the builder, else by `CORENET_BACKEND`,
//! else io_uring when it comes up, else compat (logged once, with the reason).

use std::io;

use corenet_engine as engine;

use crate::Backend;

/// Starts the engine on the chosen backend.
pub(crate) fn start(
    builder: engine::Builder,
    forced: Option<Backend>,
    env: Option<&str>,
) -> io::Result<engine::Runtime> {
    let wanted = match forced {
        Some(b) => Some(b),
        None => parse_env(env)?,
    };
    let why = match (forced, wanted) {
        (Some(_), _) => "forced by Builder::backend",
        (None, Some(_)) => "forced by CORENET_BACKEND",
        (None, None) => "the default choice",
    };
    let rt = match wanted {
        Some(Backend::IoUring) => start_uring(builder),
        Some(Backend::Compat) => start_compat(builder),
        None => start_auto(builder),
    }?;
    tracing::info!(backend = ?rt.backend(), cores = rt.cores(), "runtime up ({why})");
    Ok(rt)
}

fn parse_env(env: Option<&str>) -> io::Result<Option<Backend>> {
    match env.map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) => parse_name(name).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CORENET_BACKEND={name:?}: expected \"uring\", \"compat\" or \"auto\""),
            )
        }),
    }
}

/// A backend by name: `auto` (no choice forced), `uring` or `io_uring`, `compat`.
pub(crate) fn parse_name(name: &str) -> io::Result<Option<Backend>> {
    match name.trim() {
        "auto" => Ok(None),
        "uring" | "io_uring" => Ok(Some(Backend::IoUring)),
        "compat" => Ok(Some(Backend::Compat)),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("backend {other:?}: expected \"auto\", \"uring\" or \"compat\""),
        )),
    }
}

#[cfg(target_os = "linux")]
fn start_uring(builder: engine::Builder) -> io::Result<engine::Runtime> {
    builder.build().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the io_uring backend cannot start: {}", describe(&e)),
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn start_uring(_builder: engine::Builder) -> io::Result<engine::Runtime> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the io_uring backend is Linux-only",
    ))
}

fn start_compat(builder: engine::Builder) -> io::Result<engine::Runtime> {
    #[cfg(any(unix, windows))]
    {
        builder
            .driver_factory(corenet_compat::CompatDriver::factory())
            .build()
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = builder;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the compat backend does not support this platform yet",
        ))
    }
}

#[cfg(target_os = "linux")]
fn start_auto(builder: engine::Builder) -> io::Result<engine::Runtime> {
    match builder.clone().build() {
        Ok(rt) => Ok(rt),
        Err(e) if io_uring_unavailable(&e) => {
            tracing::warn!("{}; using the compat backend", describe(&e));
            start_compat(builder)
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn start_auto(builder: engine::Builder) -> io::Result<engine::Runtime> {
    start_compat(builder)
}

/// Errors that mean "no usable io_uring here" rather than "bad settings".
#[cfg(target_os = "linux")]
fn io_uring_unavailable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(libc::EPERM | libc::ENOSYS | libc::EACCES | libc::EOPNOTSUPP)
        )
}

/// The error with its likely cause, e.g. "io_uring_setup: EPERM (blocked by seccomp or
/// kernel.io_uring_disabled)".
#[cfg(target_os = "linux")]
fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|v| format!("kernel.io_uring_disabled = {}", v.trim()))
                .unwrap_or_else(|_| "no kernel.io_uring_disabled sysctl".into());
            format!(
                "io_uring_setup: EPERM (blocked by seccomp or kernel.io_uring_disabled; {sysctl})"
            )
        }
        Some(libc::ENOSYS) => {
            "io_uring_setup: ENOSYS (kernel without io_uring, or blocked by seccomp)".into()
        }
        Some(libc::ENOMEM) => {
            "io_uring: ENOMEM (raise RLIMIT_MEMLOCK, or use fewer/smaller buffers)".into()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values() {
        assert_eq!(parse_env(None).unwrap(), None);
        assert_eq!(parse_env(Some("")).unwrap(), None);
        assert_eq!(parse_env(Some("uring")).unwrap(), Some(Backend::IoUring));
        assert_eq!(parse_env(Some(" compat ")).unwrap(), Some(Backend::Compat));
        assert_eq!(parse_env(Some("auto")).unwrap(), None);
        let err = parse_env(Some("epoll")).unwrap_err();
        assert!(
            err.to_string().contains("CORENET_BACKEND=\"epoll\""),
            "{err}"
        );
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("auto").unwrap(), None);
        assert_eq!(parse_name("io_uring").unwrap(), Some(Backend::IoUring));
        assert_eq!(parse_name("compat").unwrap(), Some(Backend::Compat));
        let err = parse_name("kqueue").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string()
                .contains("\"auto\", \"uring\" or \"compat\""),
            "{err}"
        );
        for b in [Backend::IoUring, Backend::Compat] {
            assert_eq!(parse_name(b.name()).unwrap(), Some(b));
        }
    }
}
