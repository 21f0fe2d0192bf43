//! Unit tests of the error type.

use super::*;

fn os(errno: i32, syscall: &'static str) -> Error {
    Error::from_io(io::Error::from_raw_os_error(errno), syscall)
}

#[test]
fn is_one_pointer_and_thread_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Error>();
    assert_eq!(size_of::<Error>(), size_of::<usize>());
    assert_eq!(size_of::<Result<(), Error>>(), size_of::<usize>());
}

/// Every code the brief and node-net-api.md section 6 name, from its platform errno.
#[cfg(unix)]
#[test]
fn errno_maps_to_libuv_name() {
    let table = [
        (libc::EADDRINUSE, "EADDRINUSE"),
        (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
        (libc::EACCES, "EACCES"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::ECONNRESET, "ECONNRESET"),
        (libc::ECONNABORTED, "ECONNABORTED"),
        (libc::EPIPE, "EPIPE"),
        (libc::ETIMEDOUT, "ETIMEDOUT"),
        (libc::ENOENT, "ENOENT"),
        (libc::EINVAL, "EINVAL"),
        (libc::EMFILE, "EMFILE"),
        (libc::ENFILE, "ENFILE"),
        (libc::ENOTSOCK, "ENOTSOCK"),
        (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
        (libc::ENETUNREACH, "ENETUNREACH"),
        (libc::EHOSTUNREACH, "EHOSTUNREACH"),
        (libc::ENOTCONN, "ENOTCONN"),
        (libc::EPERM, "EPERM"),
        (libc::EBADF, "EBADF"),
        (libc::ECANCELED, "ECANCELED"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::EWOULDBLOCK, "EAGAIN"),
        (libc::EINTR, "EINTR"),
        (libc::ENOBUFS, "ENOBUFS"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::EISCONN, "EISCONN"),
        (libc::EALREADY, "EALREADY"),
        (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    ];
    for (errno, code) in table {
        let err = os(errno, "connect");
        assert_eq!(err.code(), code, "errno {errno}");
        assert_eq!(err.errno(), Some(errno));
        assert_eq!(err.kind(), io::Error::from_raw_os_error(errno).kind());
    }
}

#[test]
fn errno_table_is_unambiguous_and_described() {
    for &(errno, code) in sys::CODES {
        assert_eq!(
            sys::code(errno),
            Some(code),
            "errno {errno} is in the table twice"
        );
        assert_ne!(uv_description(code), "unknown error", "{code}");
    }
}

#[test]
fn libuv_descriptions() {
    for (code, text) in [
        ("EADDRINUSE", "address already in use"),
        ("ECONNREFUSED", "connection refused"),
        ("ECONNRESET", "connection reset by peer"),
        ("EPIPE", "broken pipe"),
        ("EACCES", "permission denied"),
        ("ENOENT", "no such file or directory"),
        ("EINVAL", "invalid argument"),
        ("EADDRNOTAVAIL", "address not available"),
        ("EMFILE", "too many open files"),
        ("ECANCELED", "operation canceled"),
        ("ETIMEDOUT", "connection timed out"),
        ("ENFILE", "file table overflow"),
        ("UNKNOWN", "unknown error"),
    ] {
        assert_eq!(uv_description(code), text);
    }
}

// ---- Display, one test per Node helper ----

/// test-net-eaddrinuse / test-net-server-listen-path: uvExceptionWithHostPort.
#[cfg(unix)]
#[test]
fn listen_message_has_description_and_address() {
    let v4 = os(libc::EADDRINUSE, "listen")
        .with_address("127.0.0.1")
        .with_port(80);
    assert_eq!(
        v4.to_string(),
        "listen EADDRINUSE: address already in use 127.0.0.1:80"
    );
    let v6 = os(libc::EADDRINUSE, "listen")
        .with_address("::")
        .with_port(8080);
    assert_eq!(
        v6.to_string(),
        "listen EADDRINUSE: address already in use :::8080"
    );
    let pipe = os(libc::EADDRINUSE, "listen").with_path("/tmp/corenet.sock");
    assert_eq!(
        pipe.to_string(),
        "listen EADDRINUSE: address already in use /tmp/corenet.sock"
    );
    assert_eq!(pipe.address(), Some("/tmp/corenet.sock"));
    assert_eq!(pipe.port(), None);
    let priv_port = os(libc::EACCES, "listen")
        .with_address("0.0.0.0")
        .with_port(1);
    assert_eq!(
        priv_port.to_string(),
        "listen EACCES: permission denied 0.0.0.0:1"
    );
}

/// test-net-better-error-messages-listen: `listen(0, '1.1.1.1')` has no port.
#[cfg(unix)]
#[test]
fn listen_on_port_zero_shows_address_only() {
    let err = os(libc::EADDRNOTAVAIL, "listen")
        .with_address("1.1.1.1")
        .with_port(0);
    assert_eq!(err.port(), None);
    assert_eq!(
        err.to_string(),
        "listen EADDRNOTAVAIL: address not available 1.1.1.1"
    );
}

/// test-net-better-error-messages-port / -path: exceptionWithHostPort, no description.
#[cfg(unix)]
#[test]
fn connect_message_has_no_description() {
    let err = os(libc::ECONNREFUSED, "connect")
        .with_address("127.0.0.1")
        .with_port(9);
    assert_eq!(err.to_string(), "connect ECONNREFUSED 127.0.0.1:9");
    assert_eq!((err.address(), err.port()), (Some("127.0.0.1"), Some(9)));
    let v6 = os(libc::ECONNREFUSED, "connect")
        .with_address("::1")
        .with_port(9);
    assert_eq!(v6.to_string(), "connect ECONNREFUSED ::1:9");
    let path = os(libc::ENOENT, "connect").with_path("/tmp/fadagagsdfgsdf");
    assert_eq!(path.to_string(), "connect ENOENT /tmp/fadagagsdfgsdf");
    let bind = os(libc::EADDRINUSE, "bind")
        .with_address("127.0.0.1")
        .with_port(5000);
    assert_eq!(bind.to_string(), "bind EADDRINUSE 127.0.0.1:5000");
}

#[cfg(unix)]
#[test]
fn connect_with_local_address() {
    let err = os(libc::ECONNREFUSED, "connect")
        .with_address("127.0.0.1")
        .with_port(9)
        .with_local("127.0.0.1", 5000);
    assert_eq!(err.local_address(), Some("127.0.0.1"));
    assert_eq!(err.local_port(), Some(5000));
    assert_eq!(
        err.to_string(),
        "connect ECONNREFUSED 127.0.0.1:9 - Local (127.0.0.1:5000)"
    );
}

/// test-net-socket-write-after-close ("write EBADF"): errnoException.
#[cfg(unix)]
#[test]
fn stream_errors_are_syscall_and_code() {
    assert_eq!(os(libc::EBADF, "write").to_string(), "write EBADF");
    assert_eq!(os(libc::ECONNRESET, "read").to_string(), "read ECONNRESET");
    assert_eq!(os(libc::EPIPE, "write").to_string(), "write EPIPE");
    assert_eq!(os(libc::EMFILE, "accept").to_string(), "accept EMFILE");
    assert_eq!(
        os(libc::ENOTCONN, "shutdown").to_string(),
        "shutdown ENOTCONN"
    );
}

/// test-net-connect-immediate-finish / test-net-better-error-messages-port-hostname.
#[test]
fn lookup_failure() {
    let err = Error::lookup("something.invalid");
    assert_eq!(err.code(), "ENOTFOUND");
    assert_eq!(err.syscall(), Some("getaddrinfo"));
    assert_eq!(err.hostname(), Some("something.invalid"));
    assert_eq!(err.to_string(), "getaddrinfo ENOTFOUND something.invalid");
    assert_eq!((err.address(), err.port(), err.errno()), (None, None, None));
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let host = String::from("x.invalid");
    assert_eq!(Error::lookup(&host).hostname(), Some("x.invalid"));
    assert_eq!(
        Error::lookup_again("a").to_string(),
        "getaddrinfo EAI_AGAIN a"
    );
    assert_eq!(
        Error::lookup_fail("a").to_string(),
        "getaddrinfo EAI_FAIL a"
    );
}

#[test]
fn unknown_errno_keeps_errno_and_says_what_it_was() {
    let errno = 4000; // not an errno on any platform corenet runs on
    let err = os(errno, "read");
    assert_eq!(err.code(), "UNKNOWN");
    assert_eq!(err.errno(), Some(errno));
    let text = io::Error::from_raw_os_error(errno).to_string();
    assert_eq!(err.to_string(), format!("read UNKNOWN: {text}"));
    let back: io::Error = err.into();
    assert_eq!(back.raw_os_error(), Some(errno));
}

#[test]
fn io_errors_without_errno_use_their_kind() {
    let err = Error::from_io(
        io::Error::new(io::ErrorKind::TimedOut, "deadline"),
        "connect",
    )
    .with_address("10.0.0.1")
    .with_port(80);
    assert_eq!(err.code(), "ETIMEDOUT");
    assert_eq!(err.errno(), None);
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(err.to_string(), "connect ETIMEDOUT 10.0.0.1:80");
    let listen = Error::from_io(io::ErrorKind::AddrInUse.into(), "listen").with_address("::");
    assert_eq!(
        listen.to_string(),
        "listen EADDRINUSE: address already in use ::"
    );
    let eof = Error::from_io(io::ErrorKind::UnexpectedEof.into(), "read");
    assert_eq!(eof.code(), "EOF");

    let other = Error::from_io(io::Error::other("buffer ring gone"), "read");
    assert_eq!(other.code(), "UNKNOWN");
    assert_eq!(other.kind(), io::ErrorKind::Other);
    assert_eq!(other.to_string(), "read UNKNOWN: buffer ring gone");
}

#[test]
fn from_io_unwraps_a_wrapped_error() {
    let original = Error::server_already_listen();
    let wrapped: io::Error = original.clone().into();
    assert_eq!(wrapped.raw_os_error(), None);
    assert_eq!(wrapped.to_string(), original.to_string());
    assert_eq!(Error::from_io(wrapped, "listen"), original);
}

#[cfg(unix)]
#[test]
fn into_io_error_round_trips_errno_and_kind() {
    for errno in [
        libc::EADDRINUSE,
        libc::ECONNREFUSED,
        libc::ENOENT,
        libc::EPIPE,
    ] {
        let err = os(errno, "connect");
        let kind = err.kind();
        let back: io::Error = err.into();
        assert_eq!(back.raw_os_error(), Some(errno));
        assert_eq!(back.kind(), kind);
    }
    let lookup: io::Error = Error::lookup("x").into();
    assert_eq!(lookup.kind(), io::ErrorKind::NotFound);
    assert_eq!(lookup.raw_os_error(), None);
}

#[cfg(unix)]
#[test]
fn clone_and_eq() {
    let a = os(libc::EADDRINUSE, "listen")
        .with_address("::")
        .with_port(1);
    let b = a.clone();
    assert_eq!(a, b);
    assert_ne!(a, b.clone().with_port(2));
    assert_ne!(
        a,
        os(libc::EADDRINUSE, "bind").with_address("::").with_port(1)
    );
}

#[cfg(unix)]
#[test]
fn debug_names_the_fields() {
    let err = os(libc::ECONNREFUSED, "connect")
        .with_address("127.0.0.1")
        .with_port(9);
    let debug = format!("{err:?}");
    for part in [
        "code: \"ECONNREFUSED\"",
        "syscall: \"connect\"",
        "address: \"127.0.0.1\"",
        "port: 9",
        "message: \"connect ECONNREFUSED 127.0.0.1:9\"",
    ] {
        assert!(debug.contains(part), "{debug} lacks {part}");
    }
}

// ---- Node's own codes: code, exact message (lib/internal/errors.js) and kind ----

#[test]
fn node_codes_and_messages() {
    use io::ErrorKind as K;
    let table: Vec<(Error, &str, &str, K)> = vec![
        (
            Error::server_already_listen(),
            "ERR_SERVER_ALREADY_LISTEN",
            "Listen method has been called more than once without closing.",
            K::Other,
        ),
        (
            Error::server_not_running(),
            "ERR_SERVER_NOT_RUNNING",
            "Server is not running.",
            K::Other,
        ),
        (
            Error::socket_closed(),
            "ERR_SOCKET_CLOSED",
            "Socket is closed",
            K::NotConnected,
        ),
        (
            Error::socket_closed_before_connection(),
            "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
            "Socket closed before the connection was established",
            K::NotConnected,
        ),
        (
            Error::socket_bad_port("-1"),
            "ERR_SOCKET_BAD_PORT",
            "Port should be >= 0 and < 65536. Received -1.",
            K::InvalidInput,
        ),
        (
            Error::invalid_arg_type(
                "port",
                "one of type number or string",
                "type boolean (true)",
            ),
            "ERR_INVALID_ARG_TYPE",
            "The \"port\" argument must be one of type number or string. Received type boolean (true)",
            K::InvalidInput,
        ),
        (
            Error::invalid_arg_type("options.port", "of type number", "null"),
            "ERR_INVALID_ARG_TYPE",
            "The \"options.port\" property must be of type number. Received null",
            K::InvalidInput,
        ),
        (
            Error::invalid_arg_type("first argument", "of type number", "type string ('x')"),
            "ERR_INVALID_ARG_TYPE",
            "The first argument must be of type number. Received type string ('x')",
            K::InvalidInput,
        ),
        (
            Error::invalid_arg_value(
                "options",
                "{}",
                "must have the property \"port\" or \"path\"",
            ),
            "ERR_INVALID_ARG_VALUE",
            "The argument 'options' must have the property \"port\" or \"path\". Received {}",
            K::InvalidInput,
        ),
        (
            Error::invalid_arg_value("options.hints", "5", "is invalid"),
            "ERR_INVALID_ARG_VALUE",
            "The property 'options.hints' is invalid. Received 5",
            K::InvalidInput,
        ),
        (
            Error::invalid_opt_value("port", "true"),
            "ERR_INVALID_OPT_VALUE",
            "The value \"true\" is invalid for option \"port\"",
            K::InvalidInput,
        ),
        (
            Error::invalid_ip_address("foobar"),
            "ERR_INVALID_IP_ADDRESS",
            "Invalid IP address: foobar",
            K::InvalidInput,
        ),
        (
            Error::invalid_address_family("5", "localhost", 80),
            "ERR_INVALID_ADDRESS_FAMILY",
            "Invalid address family: 5 localhost:80",
            K::InvalidInput,
        ),
        (
            Error::invalid_fd_type("FILE"),
            "ERR_INVALID_FD_TYPE",
            "Unsupported fd type: FILE",
            K::InvalidInput,
        ),
        (
            Error::out_of_range("msecs", "a non-negative finite number", "-1"),
            "ERR_OUT_OF_RANGE",
            "The value of \"msecs\" is out of range. It must be a non-negative finite number. Received -1",
            K::InvalidInput,
        ),
        (
            Error::invalid_callback("true"),
            "ERR_INVALID_CALLBACK",
            "Callback must be a function. Received true",
            K::InvalidInput,
        ),
        (
            Error::stream_write_after_end(),
            "ERR_STREAM_WRITE_AFTER_END",
            "write after end",
            K::BrokenPipe,
        ),
        (
            Error::stream_destroyed("write"),
            "ERR_STREAM_DESTROYED",
            "Cannot call write after a stream was destroyed",
            K::NotConnected,
        ),
        (
            Error::stream_null_values(),
            "ERR_STREAM_NULL_VALUES",
            "May not write null values to stream",
            K::InvalidInput,
        ),
        (
            Error::missing_args(&["options", "port", "path"]),
            "ERR_MISSING_ARGS",
            "The \"options\" or \"port\" or \"path\" argument must be specified",
            K::InvalidInput,
        ),
        (
            Error::invalid_handle_type(),
            "ERR_INVALID_HANDLE_TYPE",
            "This handle type cannot be sent",
            K::Unsupported,
        ),
        (
            Error::socket_connection_timeout(),
            "ERR_SOCKET_CONNECTION_TIMEOUT",
            "Socket connection timeout",
            K::TimedOut,
        ),
        (
            Error::write_after_fin(),
            "EPIPE",
            "This socket has been ended by the other party",
            K::BrokenPipe,
        ),
    ];
    for (err, code, message, kind) in table {
        assert_eq!(err.code(), code);
        assert_eq!(err.to_string(), message, "{code}");
        assert_eq!(err.kind(), kind, "{code}");
        assert_eq!((err.errno(), err.syscall()), (None, None), "{code}");
        let io_err: io::Error = err.clone().into();
        assert_eq!(io_err.kind(), kind);
        let inner = io_err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner, Some(&err));
    }
}

#[test]
fn invalid_address_family_carries_host_and_port() {
    let err = Error::invalid_address_family("5", "localhost", 80);
    assert_eq!((err.address(), err.port()), (Some("localhost"), Some(80)));
}

#[test]
#[should_panic(expected = "at least one name")]
fn missing_args_needs_a_name() {
    let _ = Error::missing_args(&[]);
}

#[test]
fn missing_args_single_name() {
    let err = Error::missing_args(&["path"]);
    assert_eq!(err.to_string(), "The \"path\" argument must be specified");
}
