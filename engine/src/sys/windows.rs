//! Windows: sockets are `SOCKET`s; errors are Winsock (100xx) or Win32 codes, so that
//! `io::Error::from_raw_os_error` describes them; pool memory comes from the heap (no kernel
//! ever writes into it behind our back: the compat driver reads into it itself).

use std::alloc::Layout;
use std::io;
use std::os::windows::io::{
    AsRawSocket, BorrowedSocket, FromRawSocket, IntoRawSocket, OwnedSocket,
};
use std::ptr::NonNull;

pub use crate::backend::RawSock;
/// An owned socket handle: `OwnedSocket` here, `OwnedFd` on Unix. What
/// [`Server::from_std`](crate::Server::from_std) and [`Socket::from_std`](crate::Socket::from_std)
/// take (`std`'s listeners and streams convert into it).
pub type OwnedSock = OwnedSocket;

/// The op was cancelled (`ERROR_OPERATION_ABORTED`).
pub(crate) const ECANCELED: i32 = 995;
/// An invalid argument (`WSAEINVAL`).
pub(crate) const EINVAL: i32 = 10022;
/// An address family the backends do not serve (`WSAEAFNOSUPPORT`).
pub(crate) const EAFNOSUPPORT: i32 = 10047;
/// The receive pool ran dry (`WSAENOBUFS`).
pub(crate) const ENOBUFS: i32 = 10055;
/// The peer refused a connection (`WSAECONNREFUSED`).
#[cfg(any(test, feature = "contract-tests"))]
pub(crate) const ECONNREFUSED: i32 = 10061;
/// Bad memory in a call (`WSAEFAULT`).
pub(crate) const EFAULT: i32 = 10014;

/// Whether `sock` is a listening socket (`SO_ACCEPTCONN`; `WSAENOTSOCK` for a handle that is
/// no socket).
pub(crate) fn is_listening(sock: &OwnedSock) -> io::Result<bool> {
    use windows_sys::Win32::Networking::WinSock::{SO_ACCEPTCONN, SOL_SOCKET, getsockopt};
    // A BOOL (docs: "SOL_SOCKET socket options").
    let mut on: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as i32;
    // SAFETY: `sock` is open for the call; `on` and `len` are ours and sized as the option.
    let rc = unsafe {
        getsockopt(
            sock.as_raw_socket() as usize,
            SOL_SOCKET,
            SO_ACCEPTCONN,
            (&raw mut on).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(on != 0)
}

/// Pool memory alignment: a page, as the mapping gives on Unix.
const PAGE: usize = 4096;

/// Closes a handle the reactor owns: a socket, or a tagged pipe handle no driver took.
///
/// # Safety
///
/// `sock` must be open and owned by the caller, and no op may be in flight on it.
pub(crate) unsafe fn close(sock: RawSock) {
    use std::os::windows::io::{FromRawHandle, OwnedHandle};
    if is_pipe(sock) {
        // SAFETY: the caller owns the handle.
        drop(unsafe { OwnedHandle::from_raw_handle(untag_pipe(sock)) });
    } else {
        // SAFETY: the caller owns the socket.
        drop(unsafe { owned(sock) });
    }
}

/// Takes ownership of a raw handle.
///
/// # Safety
///
/// `sock` must be open and owned by nobody else.
pub(crate) unsafe fn owned(sock: RawSock) -> OwnedSock {
    // SAFETY: the caller's guarantee.
    unsafe { OwnedSocket::from_raw_socket(sock) }
}

/// Borrows a raw handle.
///
/// # Safety
///
/// `sock` must stay open while the borrow lives.
pub(crate) unsafe fn borrow<'a>(sock: RawSock) -> BorrowedSocket<'a> {
    // SAFETY: the caller's guarantee.
    unsafe { BorrowedSocket::borrow_raw(sock) }
}

/// The raw handle of an owned socket, which keeps it.
#[cfg(any(test, feature = "contract-tests"))]
pub(crate) fn raw_of(sock: &OwnedSock) -> RawSock {
    sock.as_raw_socket()
}

/// Gives up ownership of a socket, returning its raw handle.
pub(crate) fn into_raw(sock: impl Into<OwnedSock>) -> RawSock {
    sock.into().into_raw_socket()
}

fn layout(len: usize) -> io::Result<Layout> {
    Layout::from_size_align(len, PAGE).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// `len` (> 0) zeroed, page-aligned bytes from the heap.
pub(crate) fn map(len: usize) -> io::Result<NonNull<u8>> {
    let layout = layout(len)?;
    // SAFETY: `layout` has a non-zero size (callers ask for at least one byte).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Releases memory from [`map`].
///
/// # Safety
///
/// `ptr`/`len` must come from one `map` call and not have been released since.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    let layout = layout(len).expect("the layout map() accepted");
    // SAFETY: allocated by `map` with this same layout (the caller's guarantee).
    unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
}

// ---- named pipes ---------------------------------------------------------------------------

/// Pipe handles travel through the reactor as `RawSock`s with the low bit set: Windows
/// handle values are multiples of four, so the bit is free (mio tells its pipe completions
/// apart the same way), and a `SOCKET` never has it.
const PIPE_TAG: RawSock = 1;
/// A pipe server's key also has the next bit set: its first instance, whose handle the key
/// is made from, becomes a connection of its own under the plain tag.
const PIPE_SERVER_TAG: RawSock = 2;

/// Whether `s` is a tagged named-pipe handle.
pub fn is_pipe(s: RawSock) -> bool {
    s & PIPE_TAG != 0
}

/// A pipe handle as the reactor carries it.
pub fn tag_pipe(h: std::os::windows::io::RawHandle) -> RawSock {
    h as usize as RawSock | PIPE_TAG
}

/// The handle of a tagged pipe value.
pub fn untag_pipe(s: RawSock) -> std::os::windows::io::RawHandle {
    (s & !(PIPE_TAG | PIPE_SERVER_TAG)) as usize as std::os::windows::io::RawHandle
}

/// What a server listens on: a listening socket, or a named pipe's name with the first
/// instance, created at bind time (that creation is what fails when the name is taken).
#[derive(Debug)]
pub(crate) enum ListenSock {
    /// A listening TCP socket.
    Socket(OwnedSocket),
    /// A named pipe server.
    Pipe(PipeListen),
}

/// A named pipe server before the driver owns it.
#[derive(Debug)]
pub(crate) struct PipeListen {
    /// The full name, UTF-16, NUL-terminated; the accept op points at it.
    pub(crate) name: Vec<u16>,
    /// The first instance (tagged), until the first accept op hands it to the driver; closed
    /// here if no accept ever starts.
    first: std::sync::Mutex<Option<std::os::windows::io::OwnedHandle>>,
    /// The key the driver files the server under (see [`PIPE_SERVER_TAG`]).
    key: RawSock,
}

impl From<OwnedSocket> for ListenSock {
    fn from(s: OwnedSocket) -> Self {
        ListenSock::Socket(s)
    }
}

impl From<socket2::Socket> for ListenSock {
    fn from(s: socket2::Socket) -> Self {
        ListenSock::Socket(s.into())
    }
}

/// The raw handle a listener's ops name (the tagged first instance for a pipe server).
pub(crate) fn listener_raw(l: &ListenSock) -> RawSock {
    match l {
        ListenSock::Socket(s) => s.as_raw_socket(),
        ListenSock::Pipe(p) => p.key,
    }
}

/// The op that accepts on listener `l` (raw handle `fd`): a pipe server's first accept hands
/// the first instance to the driver, which owns the server's instances from then on.
pub(crate) fn accept_op(
    l: &ListenSock,
    fd: RawSock,
    token: crate::backend::Token,
) -> crate::backend::Op {
    match l {
        ListenSock::Socket(_) => crate::backend::Op::AcceptMulti { fd, token },
        ListenSock::Pipe(p) => {
            use std::os::windows::io::IntoRawHandle;
            let first = p
                .first
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map(|h| tag_pipe(h.into_raw_handle()));
            crate::backend::Op::AcceptPipe {
                key: fd,
                first,
                name: p.name.as_ptr(),
                token,
            }
        }
    }
}

/// `ERROR_ACCESS_DENIED`: what creating a first instance of a taken pipe name fails with.
const ERROR_ACCESS_DENIED: i32 = 5;
/// `WSAEADDRINUSE`, Node's EADDRINUSE on Windows.
const WSAEADDRINUSE: i32 = 10048;

/// Whether `path` names a Windows named pipe (`\\.\pipe\...` or `\\?\pipe\...`).
pub(crate) fn is_pipe_path(path: &std::path::Path) -> bool {
    let s = path.as_os_str().to_string_lossy().to_ascii_lowercase();
    s.starts_with(r"\\.\pipe\") || s.starts_with(r"\\?\pipe\")
}

fn wide(path: &std::path::Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// Creates an overlapped, byte-mode, duplex instance of pipe `name` (NUL-terminated UTF-16);
/// `first` adds FILE_FLAG_FIRST_PIPE_INSTANCE, so that a taken name fails.
///
/// # Errors
///
/// `CreateNamedPipeW`'s: `ERROR_ACCESS_DENIED` for a taken name with `first`,
/// `ERROR_INVALID_NAME` for a malformed one.
///
/// # Panics
///
/// When `name` is not NUL-terminated.
pub fn create_pipe_instance(
    name: &[u16],
    first: bool,
) -> io::Result<std::os::windows::io::OwnedHandle> {
    use std::os::windows::io::FromRawHandle;
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
    };
    use windows_sys::Win32::System::Pipes::{
        CreateNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE,
        PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
    };
    assert_eq!(name.last(), Some(&0), "NUL-terminated");
    let mut mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    // SAFETY: `name` is NUL-terminated UTF-16 (asserted); no security attributes.
    let h = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            mode,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            // libuv's buffer sizes.
            65536,
            65536,
            0,
            std::ptr::null(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh handle that nothing else owns.
    Ok(unsafe { std::os::windows::io::OwnedHandle::from_raw_handle(h) })
}

/// A named pipe server at `path`: its first instance now, so that a taken name fails with
/// EADDRINUSE at bind time, as Node's `listen` does.
pub(crate) fn bind_pipe(path: &std::path::Path) -> io::Result<ListenSock> {
    use std::os::windows::io::AsRawHandle;
    let name = wide(path);
    let first = create_pipe_instance(&name, true).map_err(|e| {
        if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
            io::Error::from_raw_os_error(WSAEADDRINUSE)
        } else {
            e
        }
    })?;
    let key = tag_pipe(first.as_raw_handle()) | PIPE_SERVER_TAG;
    Ok(ListenSock::Pipe(PipeListen {
        name,
        first: std::sync::Mutex::new(Some(first)),
        key,
    }))
}

/// Opens a client end of pipe `path`: overlapped (the driver does its I/O through mio),
/// waiting up to 5 s while every instance is busy. Blocking: run it off the core.
pub(crate) fn open_pipe(path: &std::path::Path) -> io::Result<RawSock> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::IntoRawHandle;
    use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OVERLAPPED;
    /// `ERROR_PIPE_BUSY`: every instance has a client.
    const ERROR_PIPE_BUSY: i32 = 231;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(FILE_FLAG_OVERLAPPED)
            .open(path)
        {
            Ok(f) => return Ok(tag_pipe(f.into_raw_handle())),
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}
