//! Named pipe servers: accepting is connecting the waiting instance (`ConnectNamedPipe`,
//! overlapped, through mio), handing it over as a connection and creating the next instance
//! without FILE_FLAG_FIRST_PIPE_INSTANCE (the first one, made at bind time, has it).

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, IntoRawHandle, RawSocket};

use corenet_engine::driver::{Completion, Token, create_pipe_instance, tag_pipe};
use mio::Registry;
use mio::windows::NamedPipe;

use super::ops::code;
use super::sources::{Source, Sources, token_of};
use crate::readiness::platform::Step;

/// Clients one server takes per park.
const ACCEPTS_PER_PARK: usize = 64;
/// `ERROR_NO_DATA`: the client connected and already closed its end.
const ERROR_NO_DATA: i32 = 232;

/// Files the server `key` (taking over its first instance, if handed over now) unless it is
/// filed already.
pub(crate) fn open_server(
    socks: &mut Sources,
    registry: &Registry,
    key: RawSocket,
    first: Option<RawSocket>,
    name: *const u16,
) -> io::Result<()> {
    if let Some(first) = first {
        // SAFETY: the reactor hands the first instance over with this op; nothing else
        // owns it from here on.
        let instance =
            unsafe { NamedPipe::from_raw_handle(corenet_engine::driver::untag_pipe(first)) };
        socks.insert_pipe(registry, key, Source::PipeServer { name, instance }, false)?;
    }
    Ok(())
}

/// Accepts clients until none waits (or the per-park share); each connected instance is a
/// completion whose result is its tagged handle, filed as a pipe the driver owns.
pub(crate) fn accept(
    socks: &mut Sources,
    registry: &Registry,
    key: RawSocket,
    token: Token,
    out: &mut Vec<Completion>,
) -> Step {
    for _ in 0..ACCEPTS_PER_PARK {
        let Source::PipeServer { name, instance } = socks.get(key) else {
            return Step::Final(-10038);
        };
        if let Ok(Some(e)) = instance.take_error() {
            return Step::Final(-code(&e));
        }
        match instance.connect() {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(ERROR_NO_DATA) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Step::Wait(mio::Interest::READABLE);
            }
            Err(e) => return Step::Final(-code(&e)),
        }
        // A client is connected: a fresh instance waits for the next one.
        let name = *name;
        let next = match next_instance(name) {
            Ok(p) => p,
            Err(e) => return Step::Final(-code(&e)),
        };
        let connected = std::mem::replace(instance, next);
        let next_ref = match socks.get(key) {
            Source::PipeServer { instance, .. } => instance,
            _ => unreachable!("filed as a server"),
        };
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = registry.register(next_ref, token_of(key), interest) {
            return Step::Final(-code(&e));
        }
        let tagged = tag_pipe(connected.as_raw_handle());
        let Ok(result) = i32::try_from(tagged) else {
            return Step::Final(-10024); // WSAEMFILE: a handle a completion cannot carry
        };
        // Registered under the server's token so far: moved to its own.
        if let Err(e) = socks.insert_pipe(registry, tagged, Source::Pipe(connected), true) {
            return Step::Final(-code(&e));
        }
        out.push(Completion {
            token,
            result,
            more: true,
            chunk: None,
        });
    }
    Step::Again
}

/// A new instance of the pipe `name`, wrapped for mio.
fn next_instance(name: *const u16) -> io::Result<NamedPipe> {
    // SAFETY: the reactor keeps the NUL-terminated name alive while the server is filed.
    let len = (0..).take_while(|&i| unsafe { *name.add(i) } != 0).count();
    // SAFETY: `len + 1` units up to and including the NUL, all valid (as above).
    let name = unsafe { std::slice::from_raw_parts(name, len + 1) };
    let handle = create_pipe_instance(name, false)?;
    // SAFETY: a fresh instance that nothing else owns.
    Ok(unsafe { NamedPipe::from_raw_handle(handle.into_raw_handle()) })
}
