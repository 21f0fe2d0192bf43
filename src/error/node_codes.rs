//! Constructors for Node's own error codes (`ERR_*`), with Node's messages.

use std::io;

use super::Error;

impl Error {
    /// `EPIPE` "This socket has been ended by the other party": v14's `writeAfterFIN`, a
    /// write after the peer's FIN on a socket without `allowHalfOpen`. No syscall or errno.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::write_after_fin();
    /// assert_eq!(err.code(), "EPIPE");
    /// assert_eq!(err.to_string(), "This socket has been ended by the other party");
    /// ```
    pub fn write_after_fin() -> Error {
        Error::node(
            "EPIPE",
            io::ErrorKind::BrokenPipe,
            "This socket has been ended by the other party",
        )
    }

    /// `ERR_SERVER_ALREADY_LISTEN`: `listen()` while the server has a handle.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(
    ///     corenet::Error::server_already_listen().to_string(),
    ///     "Listen method has been called more than once without closing."
    /// );
    /// ```
    pub fn server_already_listen() -> Error {
        Error::node(
            "ERR_SERVER_ALREADY_LISTEN",
            io::ErrorKind::Other,
            "Listen method has been called more than once without closing.",
        )
    }

    /// `ERR_SERVER_NOT_RUNNING`: `close(cb)` on a server that is not listening.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::server_not_running();
    /// assert_eq!(err.to_string(), "Server is not running.");
    /// ```
    pub fn server_not_running() -> Error {
        Error::node(
            "ERR_SERVER_NOT_RUNNING",
            io::ErrorKind::Other,
            "Server is not running.",
        )
    }

    /// `ERR_SOCKET_CLOSED` "Socket is closed": a write when the handle is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corenet::Error::socket_closed().to_string(), "Socket is closed");
    /// ```
    pub fn socket_closed() -> Error {
        Error::node(
            "ERR_SOCKET_CLOSED",
            io::ErrorKind::NotConnected,
            "Socket is closed",
        )
    }

    /// `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` (later than v14): a write still pending when the
    /// socket was destroyed while connecting.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::socket_closed_before_connection();
    /// assert_eq!(err.to_string(), "Socket closed before the connection was established");
    /// ```
    pub fn socket_closed_before_connection() -> Error {
        Error::node(
            "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
            io::ErrorKind::NotConnected,
            "Socket closed before the connection was established",
        )
    }

    /// `ERR_SOCKET_BAD_PORT` (a RangeError in Node) with v14's message,
    /// `Port should be >= 0 and < 65536. Received <received>.`, where `received` is the value
    /// as Node's `%s` prints it (`-1`, `NaN`, `123.456`, or a string as is).
    /// The conversions of `corenet::net::Port` make this error.
    ///
    /// Later Node prints `options.port should be ... Received type number (-1).`; this
    /// follows v14, corenet's baseline.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::socket_bad_port("65536");
    /// assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT");
    /// assert_eq!(err.to_string(), "Port should be >= 0 and < 65536. Received 65536.");
    /// ```
    pub fn socket_bad_port(received: &str) -> Error {
        Error::node(
            "ERR_SOCKET_BAD_PORT",
            io::ErrorKind::InvalidInput,
            format!("Port should be >= 0 and < 65536. Received {received}."),
        )
    }

    /// `ERR_INVALID_ARG_TYPE` (TypeError): `The "<name>" argument must be <expected>.
    /// Received <received>`. As in Node, a `name` with a `.` is a property
    /// (`The "options.port" property ...`) and one ending in ` argument` is used as is
    /// (`The first argument ...`). `expected` is the phrase after "must be" (`of type number`,
    /// `one of type number or string`); `received` is Node's rendering of the value
    /// (`type boolean (true)`, `null`, `an instance of Array`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_arg_type("port", "of type number", "type boolean (true)");
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"The "port" argument must be of type number. Received type boolean (true)"#
    /// );
    /// ```
    pub fn invalid_arg_type(name: &str, expected: &str, received: &str) -> Error {
        let subject = if name.ends_with(" argument") {
            name.to_owned()
        } else if name.contains('.') {
            format!("\"{name}\" property")
        } else {
            format!("\"{name}\" argument")
        };
        Error::node(
            "ERR_INVALID_ARG_TYPE",
            io::ErrorKind::InvalidInput,
            format!("The {subject} must be {expected}. Received {received}"),
        )
    }

    /// `ERR_INVALID_ARG_VALUE` (TypeError): `The argument '<name>' <reason>. Received
    /// <value>` (`property` instead of `argument` when `name` has a `.`). Node's default
    /// `reason` is `is invalid`; `value` is Node's rendering of the value (`{}`, `5`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_arg_value(
    ///     "options",
    ///     "{}",
    ///     r#"must have the property "port" or "path""#,
    /// );
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"The argument 'options' must have the property "port" or "path". Received {}"#
    /// );
    /// ```
    pub fn invalid_arg_value(name: &str, value: &str, reason: &str) -> Error {
        let noun = if name.contains('.') {
            "property"
        } else {
            "argument"
        };
        Error::node(
            "ERR_INVALID_ARG_VALUE",
            io::ErrorKind::InvalidInput,
            format!("The {noun} '{name}' {reason}. Received {value}"),
        )
    }

    /// `ERR_INVALID_OPT_VALUE` (v13/v14; later `ERR_INVALID_ARG_VALUE`): unusable listen
    /// options or `hints`: `The value "<value>" is invalid for option "<name>"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_opt_value("hints", "-1");
    /// assert_eq!(err.to_string(), r#"The value "-1" is invalid for option "hints""#);
    /// ```
    pub fn invalid_opt_value(name: &str, value: &str) -> Error {
        Error::node(
            "ERR_INVALID_OPT_VALUE",
            io::ErrorKind::InvalidInput,
            format!("The value \"{value}\" is invalid for option \"{name}\""),
        )
    }

    /// `ERR_INVALID_IP_ADDRESS` (TypeError): `Invalid IP address: <address>`, for a
    /// `localAddress` that is not an IP.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_ip_address("foobar");
    /// assert_eq!(err.to_string(), "Invalid IP address: foobar");
    /// ```
    pub fn invalid_ip_address(address: &str) -> Error {
        Error::node(
            "ERR_INVALID_IP_ADDRESS",
            io::ErrorKind::InvalidInput,
            format!("Invalid IP address: {address}"),
        )
    }

    /// `ERR_INVALID_ADDRESS_FAMILY` (RangeError): a custom lookup answered a family other
    /// than 4 or 6: `Invalid address family: <family> <host>:<port>`. Node's `err.host` and
    /// `err.port` are [`address`](Self::address) and [`port`](Self::port).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_address_family("5", "localhost", 80);
    /// assert_eq!(err.to_string(), "Invalid address family: 5 localhost:80");
    /// assert_eq!(err.address(), Some("localhost"));
    /// ```
    pub fn invalid_address_family(family: &str, host: &str, port: u16) -> Error {
        Error::node(
            "ERR_INVALID_ADDRESS_FAMILY",
            io::ErrorKind::InvalidInput,
            format!("Invalid address family: {family} {host}:{port}"),
        )
        .with_address(host)
        .with_port(port)
    }

    /// `ERR_INVALID_FD_TYPE` (TypeError): `Unsupported fd type: <kind>`, for an `fd` that is
    /// neither TCP nor a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_fd_type("FILE");
    /// assert_eq!(err.to_string(), "Unsupported fd type: FILE");
    /// ```
    pub fn invalid_fd_type(kind: &str) -> Error {
        Error::node(
            "ERR_INVALID_FD_TYPE",
            io::ErrorKind::InvalidInput,
            format!("Unsupported fd type: {kind}"),
        )
    }

    /// `ERR_OUT_OF_RANGE` (RangeError): `The value of "<name>" is out of range. It must be
    /// <range>. Received <received>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::out_of_range("msecs", "a non-negative finite number", "-1");
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"The value of "msecs" is out of range. It must be a non-negative finite number. Received -1"#
    /// );
    /// ```
    pub fn out_of_range(name: &str, range: &str, received: &str) -> Error {
        Error::node(
            "ERR_OUT_OF_RANGE",
            io::ErrorKind::InvalidInput,
            format!(
                "The value of \"{name}\" is out of range. It must be {range}. Received {received}"
            ),
        )
    }

    /// `ERR_INVALID_CALLBACK` (v13/v14 TypeError; later `ERR_INVALID_ARG_TYPE`):
    /// `Callback must be a function. Received <received>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_callback("true");
    /// assert_eq!(err.to_string(), "Callback must be a function. Received true");
    /// ```
    pub fn invalid_callback(received: &str) -> Error {
        Error::node(
            "ERR_INVALID_CALLBACK",
            io::ErrorKind::InvalidInput,
            format!("Callback must be a function. Received {received}"),
        )
    }

    /// `ERR_STREAM_WRITE_AFTER_END` "write after end": `write` after `end()`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corenet::Error::stream_write_after_end().to_string(), "write after end");
    /// ```
    pub fn stream_write_after_end() -> Error {
        Error::node(
            "ERR_STREAM_WRITE_AFTER_END",
            io::ErrorKind::BrokenPipe,
            "write after end",
        )
    }

    /// `ERR_STREAM_DESTROYED`: `Cannot call <method> after a stream was destroyed`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::stream_destroyed("write");
    /// assert_eq!(err.to_string(), "Cannot call write after a stream was destroyed");
    /// ```
    pub fn stream_destroyed(method: &str) -> Error {
        Error::node(
            "ERR_STREAM_DESTROYED",
            io::ErrorKind::NotConnected,
            format!("Cannot call {method} after a stream was destroyed"),
        )
    }

    /// `ERR_STREAM_NULL_VALUES` (TypeError) "May not write null values to stream".
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::stream_null_values();
    /// assert_eq!(err.to_string(), "May not write null values to stream");
    /// ```
    pub fn stream_null_values() -> Error {
        Error::node(
            "ERR_STREAM_NULL_VALUES",
            io::ErrorKind::InvalidInput,
            "May not write null values to stream",
        )
    }

    /// `ERR_MISSING_ARGS` (TypeError, later than v14) for one argument that may go by any of
    /// `names`, as `connect()` throws it: `The "options" or "port" or "path" argument must be
    /// specified`.
    ///
    /// # Panics
    ///
    /// If `names` is empty (Node asserts the same).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::missing_args(&["options", "port", "path"]);
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"The "options" or "port" or "path" argument must be specified"#
    /// );
    /// ```
    pub fn missing_args(names: &[&str]) -> Error {
        assert!(!names.is_empty(), "missing_args needs at least one name");
        let alternatives: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        Error::node(
            "ERR_MISSING_ARGS",
            io::ErrorKind::InvalidInput,
            format!(
                "The {} argument must be specified",
                alternatives.join(" or ")
            ),
        )
    }

    /// `ERR_INVALID_HANDLE_TYPE` (TypeError, later than v14) "This handle type cannot be
    /// sent": `resetAndDestroy()` on a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_handle_type();
    /// assert_eq!(err.to_string(), "This handle type cannot be sent");
    /// ```
    pub fn invalid_handle_type() -> Error {
        Error::node(
            "ERR_INVALID_HANDLE_TYPE",
            io::ErrorKind::Unsupported,
            "This handle type cannot be sent",
        )
    }

    /// `ERR_SOCKET_CONNECTION_TIMEOUT` (later than v14) "Socket connection timeout": an
    /// `autoSelectFamily` attempt timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::socket_connection_timeout();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// ```
    pub fn socket_connection_timeout() -> Error {
        Error::node(
            "ERR_SOCKET_CONNECTION_TIMEOUT",
            io::ErrorKind::TimedOut,
            "Socket connection timeout",
        )
    }

    /// `ERR_INVALID_STATE` "Invalid state: …" (`what` after the colon): an operation the object's state does not
    /// allow, e.g. [`Socket::into_stream`](crate::net::Socket::into_stream) while connecting.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::invalid_state("the socket is still connecting");
    /// assert_eq!(err.code(), "ERR_INVALID_STATE");
    /// assert_eq!(err.to_string(), "Invalid state: the socket is still connecting");
    /// ```
    pub fn invalid_state(what: &str) -> Error {
        Error::node(
            "ERR_INVALID_STATE",
            io::ErrorKind::Other,
            format!("Invalid state: {what}"),
        )
    }
}
