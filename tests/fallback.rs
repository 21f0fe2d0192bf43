//! io_uring blocked by a seccomp filter (as container runtimes do): the default runtime comes
//! up on the compat backend and echoes; forcing io_uring there is a clear error, not a panic;
//! and the README's first command (the echo example, default arguments) serves and says it
//! runs on compat, and why. The filter is installed on a dedicated thread (and inherited by
//! the processes it starts), so the rest of the process keeps io_uring.

#![cfg(target_os = "linux")]

mod common;

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{echo_roundtrip, example, secs, watchdog};
use corenet::{Backend, Runtime, Server, Socket};

/// io_uring_setup, io_uring_enter, io_uring_register (the same numbers on every architecture).
const IO_URING_SYSCALLS: [u32; 3] = [425, 426, 427];

/// Makes the io_uring syscalls fail with EPERM in this thread and threads it spawns later.
fn block_io_uring_in_this_thread() -> io::Result<()> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k, jt| libc::sock_filter {
        code: JEQ_K,
        jt,
        jf: 0,
        k,
    };
    // seccomp_data.nr is at offset 0.
    let mut filter = vec![stmt(LD_W_ABS, 0)];
    for (i, nr) in IO_URING_SYSCALLS.iter().enumerate() {
        // Jump over the remaining comparisons and the ALLOW to the ERRNO return.
        filter.push(jeq(*nr, (IO_URING_SYSCALLS.len() - i) as u8));
    }
    filter.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    filter.push(stmt(RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32));
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; prog points at a live filter for the duration of the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
fn blocked_io_uring_falls_back_to_compat() {
    watchdog("blocked_io_uring_falls_back_to_compat", secs(60), || {
        let outcome = std::thread::spawn(|| {
            block_io_uring_in_this_thread().expect("seccomp filter");
            // Forcing io_uring: a clear error that says why.
            let err = Runtime::builder()
                .cores(1)
                .pin(false)
                .backend(Backend::IoUring)
                .build()
                .unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("io_uring") && msg.contains("EPERM"),
                "unclear error: {msg}"
            );
            // The default choice: compat, and it works.
            let rt = Runtime::builder()
                .cores(2)
                .pin(false)
                .build()
                .expect("default runtime");
            assert_eq!(rt.backend(), Backend::Compat);
            let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
            server.serve(|socket: Socket| async move {
                while let Ok(Some(c)) = socket.read().await {
                    if socket.write_owned(c).await.is_err() {
                        return;
                    }
                }
                let _ = socket.shutdown().await;
            });
            echo_roundtrip(server.local_addr(), 1 << 20, 11).unwrap();
        })
        .join();
        if let Err(p) = outcome {
            std::panic::resume_unwind(p);
        }
        // This thread never had the filter: io_uring still works here.
        let rt = Runtime::builder()
            .cores(1)
            .pin(false)
            .backend(Backend::IoUring)
            .build()
            .unwrap();
        assert_eq!(rt.backend(), Backend::IoUring);
    });
}

#[test]
fn echo_example_runs_on_compat_where_io_uring_is_blocked() {
    let Some(bin) = example("echo") else {
        eprintln!("skipped: the echo example is not built (run `cargo test --all-targets`)");
        return;
    };
    watchdog(
        "echo_example_runs_on_compat_where_io_uring_is_blocked",
        secs(60),
        move || {
            // Started from the filtered thread, the example inherits the filter.
            let mut child = std::thread::spawn(move || {
                block_io_uring_in_this_thread().expect("seccomp filter");
                Command::new(bin)
                    .args(["--addr", "127.0.0.1:0", "--cores", "1"])
                    .env_remove("CORENET_BACKEND")
                    .env_remove("RUST_LOG")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn the echo example")
            })
            .join()
            .unwrap();
            let mut line = String::new();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            stdout.read_line(&mut line).unwrap();
            let addr = line
                .trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
                .parse()
                .unwrap();
            echo_roundtrip(addr, 64 << 10, 3).unwrap();
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "exit status {status}; stderr:\n{err}");
            assert!(
                err.contains("running on the compat backend"),
                "no backend line on stderr:\n{err}"
            );
            assert!(
                err.contains("EPERM") && err.contains("using the compat backend"),
                "the reason for the fallback is not on stderr:\n{err}"
            );
        },
    );
}
