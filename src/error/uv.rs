//! libuv's names and descriptions for OS errors, per platform.

use std::io;

/// The code for an [`io::Error`] that has no errno (one the engine or std made).
pub(super) fn code_for_kind(kind: io::ErrorKind) -> &'static str {
    use io::ErrorKind as K;
    match kind {
        K::AddrInUse => "EADDRINUSE",
        K::AddrNotAvailable => "EADDRNOTAVAIL",
        K::PermissionDenied => "EACCES",
        K::ConnectionRefused => "ECONNREFUSED",
        K::ConnectionReset => "ECONNRESET",
        K::ConnectionAborted => "ECONNABORTED",
        K::BrokenPipe => "EPIPE",
        K::TimedOut => "ETIMEDOUT",
        K::NotFound => "ENOENT",
        K::InvalidInput => "EINVAL",
        K::NotConnected => "ENOTCONN",
        K::WouldBlock => "EAGAIN",
        K::Interrupted => "EINTR",
        K::Unsupported => "ENOTSUP",
        K::OutOfMemory => "ENOMEM",
        K::AlreadyExists => "EEXIST",
        K::HostUnreachable => "EHOSTUNREACH",
        K::NetworkUnreachable => "ENETUNREACH",
        K::NetworkDown => "ENETDOWN",
        K::UnexpectedEof => "EOF",
        _ => "UNKNOWN",
    }
}

/// libuv's `uv_strerror` text for a code (include/uv.h, `UV_ERRNO_MAP`).
pub(super) fn uv_description(code: &str) -> &'static str {
    match code {
        "E2BIG" => "argument list too long",
        "EACCES" => "permission denied",
        "EADDRINUSE" => "address already in use",
        "EADDRNOTAVAIL" => "address not available",
        "EAFNOSUPPORT" => "address family not supported",
        "EAGAIN" => "resource temporarily unavailable",
        "EAI_AGAIN" => "temporary failure",
        "EAI_FAIL" => "permanent failure",
        "EALREADY" => "connection already in progress",
        "EBADF" => "bad file descriptor",
        "EBUSY" => "resource busy or locked",
        "ECANCELED" => "operation canceled",
        "ECHARSET" => "invalid Unicode character",
        "ECONNABORTED" => "software caused connection abort",
        "ECONNREFUSED" => "connection refused",
        "ECONNRESET" => "connection reset by peer",
        "EDESTADDRREQ" => "destination address required",
        "EEXIST" => "file already exists",
        "EFAULT" => "bad address in system call argument",
        "EFBIG" => "file too large",
        "EHOSTUNREACH" => "host is unreachable",
        "EINTR" => "interrupted system call",
        "EINVAL" => "invalid argument",
        "EIO" => "i/o error",
        "EISCONN" => "socket is already connected",
        "EISDIR" => "illegal operation on a directory",
        "ELOOP" => "too many symbolic links encountered",
        "EMFILE" => "too many open files",
        "EMSGSIZE" => "message too long",
        "ENAMETOOLONG" => "name too long",
        "ENETDOWN" => "network is down",
        "ENETUNREACH" => "network is unreachable",
        "ENFILE" => "file table overflow",
        "ENOBUFS" => "no buffer space available",
        "ENODEV" => "no such device",
        "ENOENT" => "no such file or directory",
        "ENOMEM" => "not enough memory",
        "ENOPROTOOPT" => "protocol not available",
        "ENOSPC" => "no space left on device",
        "ENOSYS" => "function not implemented",
        "ENOTCONN" => "socket is not connected",
        "ENOTDIR" => "not a directory",
        "ENOTEMPTY" => "directory not empty",
        "ENOTSOCK" => "socket operation on non-socket",
        "ENOTSUP" => "operation not supported on socket",
        "EOVERFLOW" => "value too large for defined data type",
        "EPERM" => "operation not permitted",
        "EPIPE" => "broken pipe",
        "EPROTO" => "protocol error",
        "EPROTONOSUPPORT" => "protocol not supported",
        "EPROTOTYPE" => "protocol wrong type for socket",
        "ERANGE" => "result too large",
        "EROFS" => "read-only file system",
        "ESHUTDOWN" => "cannot send after transport endpoint shutdown",
        "ESPIPE" => "invalid seek",
        "ESRCH" => "no such process",
        "ETIMEDOUT" => "connection timed out",
        "ETXTBSY" => "text file is busy",
        "EXDEV" => "cross-device link not permitted",
        "EOF" => "end of file",
        "ENXIO" => "no such device or address",
        "EMLINK" => "too many links",
        "EHOSTDOWN" => "host is down",
        "ENOTTY" => "inappropriate ioctl for device",
        "EILSEQ" => "illegal byte sequence",
        "ESOCKTNOSUPPORT" => "socket type not supported",
        _ => "unknown error",
    }
}

/// OS error number -> libuv's code name, per platform.
pub(super) mod sys {
    /// The errno -> code table.
    #[cfg(unix)]
    pub(in crate::error) const CODES: &[(i32, &str)] = &[
        (libc::E2BIG, "E2BIG"),
        (libc::EACCES, "EACCES"),
        (libc::EADDRINUSE, "EADDRINUSE"),
        (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
        (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::EALREADY, "EALREADY"),
        (libc::EBADF, "EBADF"),
        (libc::EBUSY, "EBUSY"),
        (libc::ECANCELED, "ECANCELED"),
        (libc::ECONNABORTED, "ECONNABORTED"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::ECONNRESET, "ECONNRESET"),
        (libc::EDESTADDRREQ, "EDESTADDRREQ"),
        (libc::EEXIST, "EEXIST"),
        (libc::EFAULT, "EFAULT"),
        (libc::EFBIG, "EFBIG"),
        (libc::EHOSTDOWN, "EHOSTDOWN"),
        (libc::EHOSTUNREACH, "EHOSTUNREACH"),
        (libc::EILSEQ, "EILSEQ"),
        (libc::EINTR, "EINTR"),
        (libc::EINVAL, "EINVAL"),
        (libc::EIO, "EIO"),
        (libc::EISCONN, "EISCONN"),
        (libc::EISDIR, "EISDIR"),
        (libc::ELOOP, "ELOOP"),
        (libc::EMFILE, "EMFILE"),
        (libc::EMLINK, "EMLINK"),
        (libc::EMSGSIZE, "EMSGSIZE"),
        (libc::ENAMETOOLONG, "ENAMETOOLONG"),
        (libc::ENETDOWN, "ENETDOWN"),
        (libc::ENETUNREACH, "ENETUNREACH"),
        (libc::ENFILE, "ENFILE"),
        (libc::ENOBUFS, "ENOBUFS"),
        (libc::ENODEV, "ENODEV"),
        (libc::ENOENT, "ENOENT"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::ENOPROTOOPT, "ENOPROTOOPT"),
        (libc::ENOSPC, "ENOSPC"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::ENOTCONN, "ENOTCONN"),
        (libc::ENOTDIR, "ENOTDIR"),
        (libc::ENOTEMPTY, "ENOTEMPTY"),
        (libc::ENOTSOCK, "ENOTSOCK"),
        (libc::ENOTSUP, "ENOTSUP"),
        (libc::ENOTTY, "ENOTTY"),
        (libc::ENXIO, "ENXIO"),
        (libc::EOVERFLOW, "EOVERFLOW"),
        (libc::EPERM, "EPERM"),
        (libc::EPIPE, "EPIPE"),
        (libc::EPROTO, "EPROTO"),
        (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
        (libc::EPROTOTYPE, "EPROTOTYPE"),
        (libc::ERANGE, "ERANGE"),
        (libc::EROFS, "EROFS"),
        (libc::ESHUTDOWN, "ESHUTDOWN"),
        (libc::ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
        (libc::ESPIPE, "ESPIPE"),
        (libc::ESRCH, "ESRCH"),
        (libc::ETIMEDOUT, "ETIMEDOUT"),
        (libc::ETXTBSY, "ETXTBSY"),
        (libc::EXDEV, "EXDEV"),
    ];

    /// `raw_os_error` on Windows is a Winsock (100xx) or Win32 code. The network-relevant
    /// part of libuv's `uv_translate_sys_error` (src/win/error.c).
    #[cfg(windows)]
    pub(in crate::error) const CODES: &[(i32, &str)] = &[
        (10004, "ECANCELED"),       // WSAEINTR (libuv's choice)
        (10013, "EACCES"),          // WSAEACCES
        (10014, "EFAULT"),          // WSAEFAULT
        (10022, "EINVAL"),          // WSAEINVAL
        (10024, "EMFILE"),          // WSAEMFILE
        (10035, "EAGAIN"),          // WSAEWOULDBLOCK
        (10037, "EALREADY"),        // WSAEALREADY
        (10038, "ENOTSOCK"),        // WSAENOTSOCK
        (10040, "EMSGSIZE"),        // WSAEMSGSIZE
        (10043, "EPROTONOSUPPORT"), // WSAEPROTONOSUPPORT
        (10044, "ESOCKTNOSUPPORT"), // WSAESOCKTNOSUPPORT
        (10046, "EINVAL"),          // WSAEPFNOSUPPORT
        (10047, "EAFNOSUPPORT"),    // WSAEAFNOSUPPORT
        (10048, "EADDRINUSE"),      // WSAEADDRINUSE
        (10049, "EADDRNOTAVAIL"),   // WSAEADDRNOTAVAIL
        (10051, "ENETUNREACH"),     // WSAENETUNREACH
        (10053, "ECONNABORTED"),    // WSAECONNABORTED
        (10054, "ECONNRESET"),      // WSAECONNRESET
        (10055, "ENOBUFS"),         // WSAENOBUFS
        (10056, "EISCONN"),         // WSAEISCONN
        (10057, "ENOTCONN"),        // WSAENOTCONN
        (10058, "EPIPE"),           // WSAESHUTDOWN
        (10060, "ETIMEDOUT"),       // WSAETIMEDOUT
        (10061, "ECONNREFUSED"),    // WSAECONNREFUSED
        (10065, "EHOSTUNREACH"),    // WSAEHOSTUNREACH
        (11001, "ENOENT"),          // WSAHOST_NOT_FOUND
        (11004, "ENOENT"),          // WSANO_DATA
        (2, "ENOENT"),              // ERROR_FILE_NOT_FOUND (a missing pipe)
        (3, "ENOENT"),              // ERROR_PATH_NOT_FOUND
        (4, "EMFILE"),              // ERROR_TOO_MANY_OPEN_FILES
        (5, "EACCES"),              // ERROR_ACCESS_DENIED
        (6, "EBADF"),               // ERROR_INVALID_HANDLE
        (8, "ENOMEM"),              // ERROR_NOT_ENOUGH_MEMORY
        (14, "ENOMEM"),             // ERROR_OUTOFMEMORY
        (50, "ENOTSUP"),            // ERROR_NOT_SUPPORTED
        (64, "ECONNRESET"),         // ERROR_NETNAME_DELETED
        (87, "EINVAL"),             // ERROR_INVALID_PARAMETER
        (109, "EOF"),               // ERROR_BROKEN_PIPE (the other end closed a pipe)
        (121, "ETIMEDOUT"),         // ERROR_SEM_TIMEOUT
        (230, "EPIPE"),             // ERROR_BAD_PIPE
        (231, "EBUSY"),             // ERROR_PIPE_BUSY
        (232, "EPIPE"),             // ERROR_NO_DATA
        (233, "EPIPE"),             // ERROR_PIPE_NOT_CONNECTED
        (995, "ECANCELED"),         // ERROR_OPERATION_ABORTED
        (1225, "ECONNREFUSED"),     // ERROR_CONNECTION_REFUSED
        (1227, "EADDRINUSE"),       // ERROR_ADDRESS_ALREADY_ASSOCIATED
        (1231, "ENETUNREACH"),      // ERROR_NETWORK_UNREACHABLE
        (1232, "EHOSTUNREACH"),     // ERROR_HOST_UNREACHABLE
        (1236, "ECONNABORTED"),     // ERROR_CONNECTION_ABORTED
        (1314, "EPERM"),            // ERROR_PRIVILEGE_NOT_HELD
        (2250, "ENOTCONN"),         // ERROR_NOT_CONNECTED
    ];

    #[cfg(not(any(unix, windows)))]
    pub(in crate::error) const CODES: &[(i32, &str)] = &[];

    /// libuv's name for an OS error number, if it has one.
    pub(in crate::error) fn code(errno: i32) -> Option<&'static str> {
        CODES.iter().find(|&&(n, _)| n == errno).map(|&(_, c)| c)
    }
}
