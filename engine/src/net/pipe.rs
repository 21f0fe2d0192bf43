//! Windows named pipes from the client side: `Socket::connect_unix` on a `\\.\pipe\` name.

use std::io;
use std::path::Path;

use super::Socket;
use crate::executor::context;
use crate::reactor::Transport;

/// Opens a client end of the pipe at `path` (off the core: the open may wait for a free
/// instance) and makes it a connection on the current core.
pub(super) async fn connect(path: &Path) -> io::Result<Socket> {
    let path = path.to_owned();
    let fd = blocking::unblock(move || crate::sys::open_pipe(&path)).await?;
    let ctx = context::current();
    let slot = ctx.reactor.borrow_mut().add_conn(fd, Transport::Unix);
    Ok(Socket::new(ctx, slot))
}
