//! One poller registration per descriptor, for the union of what its pending ops wait for.
//!
//! A descriptor has at most two pending ops: a *reader* (an accept or a receive) and a
//! *writer* (a send). It is registered lazily, the first time one of them has to wait
//! (EAGAIN), and only ever widened while ops remain: narrowing would cost a syscall to save a
//! spurious wake-up. When its last op ends it is deregistered, because the reactor closes the
//! descriptor right after that op's final completion and the number may then be reused.

use std::os::fd::RawFd;

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::ops::ReadHint;
use crate::readiness::platform::{Places, Role};

/// What is known about one descriptor with pending ops.
#[derive(Debug, Default)]
struct Entry {
    /// Its pending ops.
    places: Places,
    /// What the descriptor is registered for; `None` while not registered.
    interest: Option<Interest>,
    /// What its receive knows from events and earlier reads.
    read: ReadHint,
}

/// The descriptors that have pending ops, keyed by descriptor.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    fds: FdTable,
}

/// Entries indexed by descriptor number. Descriptors are small, dense integers (the kernel
/// hands out the lowest free one), so a vector indexed by them is the cheapest map: every
/// event and every attempt looks its descriptor up, and a `HashMap` with std's SipHash was
/// 1.7% of a core at 5,000 connections. The vector grows to the largest descriptor seen
/// (tens of bytes per descriptor, like the kernel's own descriptor table) and is not shrunk.
#[derive(Debug, Default)]
struct FdTable {
    slots: Vec<Option<Entry>>,
    len: usize,
}

impl FdTable {
    fn get(&self, fd: RawFd) -> Option<&Entry> {
        let i = usize::try_from(fd).ok()?;
        self.slots.get(i)?.as_ref()
    }

    fn get_mut(&mut self, fd: RawFd) -> Option<&mut Entry> {
        let i = usize::try_from(fd).ok()?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// `fd`'s entry, made empty if it had none; `None` for a negative descriptor.
    fn get_or_insert(&mut self, fd: RawFd) -> Option<(&mut Entry, bool)> {
        let i = usize::try_from(fd).ok()?;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let slot = &mut self.slots[i];
        let fresh = slot.is_none();
        if fresh {
            self.len += 1;
        }
        Some((slot.get_or_insert_with(Entry::default), fresh))
    }

    fn remove(&mut self, fd: RawFd) {
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)) {
            if slot.take().is_some() {
                self.len -= 1;
            }
        }
    }
}

/// The poller token of a descriptor (descriptors are non-negative).
pub(crate) fn token_of(fd: RawFd) -> Token {
    Token(fd as usize)
}

fn covers(have: Interest, want: Interest) -> bool {
    (!want.is_readable() || have.is_readable()) && (!want.is_writable() || have.is_writable())
}

impl Registrations {
    /// Records op `id` in `fd`'s `role` place. Returns whether `fd` was new (had no pending
    /// op), or `Err(EBUSY)` when that place is taken (the reactor never does that).
    pub(crate) fn attach(&mut self, fd: RawFd, role: Role, id: usize) -> Result<bool, i32> {
        let Some((entry, fresh)) = self.fds.get_or_insert(fd) else {
            return Err(libc::EBADF);
        };
        if !entry.places.fill(role, id) {
            return Err(libc::EBUSY);
        }
        Ok(fresh)
    }

    /// Whether `fd` has a pending op (so it has been prepared) but no pending writer.
    pub(crate) fn writer_free(&self, fd: RawFd) -> bool {
        self.fds
            .get(fd)
            .is_some_and(|entry| entry.places.writer.is_none())
    }

    /// Empties `fd`'s `role` place; when no op is left, deregisters `fd` and forgets it.
    pub(crate) fn detach(&mut self, registry: &Registry, fd: RawFd, role: Role) {
        let Some(entry) = self.fds.get_mut(fd) else {
            return;
        };
        if !entry.places.empty(role) {
            return;
        }
        if entry.interest.is_some() {
            if let Err(e) = registry.deregister(&mut SourceFd(&fd)) {
                // Nothing depends on it: a closed descriptor has left the poller already.
                tracing::debug!(fd, "deregister: {e}");
            }
        }
        self.fds.remove(fd);
    }

    /// Makes sure `fd` (which has a pending op) is registered for at least `interest`.
    ///
    /// Registering reports readiness that is already there, so an op that saw EAGAIN just
    /// before misses nothing.
    pub(crate) fn wait(
        &mut self,
        registry: &Registry,
        fd: RawFd,
        interest: Interest,
    ) -> Result<(), i32> {
        let entry = self.fds.get_mut(fd).expect("waiting op is attached");
        let result = match entry.interest {
            Some(have) if covers(have, interest) => return Ok(()),
            Some(have) => registry.reregister(&mut SourceFd(&fd), token_of(fd), have | interest),
            None => match registry.register(&mut SourceFd(&fd), token_of(fd), interest) {
                // A registration we did not know of: the number was closed and reused while
                // still registered. Take it over.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    registry.reregister(&mut SourceFd(&fd), token_of(fd), interest)
                }
                r => r,
            },
        };
        match result {
            Ok(()) => {
                entry.interest = Some(entry.interest.map_or(interest, |have| have | interest));
                Ok(())
            }
            Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// The pending ops `event` concerns: the reader on readability, the writer on
    /// writability, both on an error or hang-up.
    pub(crate) fn on_event(&mut self, event: &Event) -> [Option<usize>; 2] {
        let fd = event.token().0 as RawFd;
        let Some(entry) = self.fds.get_mut(fd) else {
            return [None, None];
        };
        if event.is_error() || event.is_read_closed() {
            entry.read.read_closed = true;
        }
        entry.places.woken_by(event)
    }

    /// What `fd`'s receive knows from events and earlier reads; `None` when `fd` has no
    /// pending op.
    pub(crate) fn read_hint(&mut self, fd: RawFd) -> Option<&mut ReadHint> {
        self.fds.get_mut(fd).map(|e| &mut e.read)
    }

    /// Descriptors with pending ops.
    pub(crate) fn len(&self) -> usize {
        self.fds.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_exclusive_and_freed() {
        let poll = mio::Poll::new().unwrap();
        let mut regs = Registrations::default();
        assert_eq!(regs.attach(7, Role::Reader, 1), Ok(true));
        assert_eq!(regs.attach(7, Role::Writer, 2), Ok(false));
        assert_eq!(regs.attach(7, Role::Reader, 3), Err(libc::EBUSY));
        regs.detach(poll.registry(), 7, Role::Reader);
        assert_eq!(regs.len(), 1);
        regs.detach(poll.registry(), 7, Role::Writer);
        assert_eq!(regs.len(), 0);
        assert_eq!(regs.attach(-1, Role::Reader, 4), Err(libc::EBADF));
        assert_eq!(regs.len(), 0);
    }

    #[test]
    fn the_last_detach_deregisters() {
        use std::os::fd::AsRawFd;
        let poll = mio::Poll::new().unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let mut regs = Registrations::default();
        regs.attach(fd, Role::Reader, 1).unwrap();
        regs.wait(poll.registry(), fd, Interest::READABLE).unwrap();
        regs.attach(fd, Role::Writer, 2).unwrap();
        regs.wait(poll.registry(), fd, Interest::WRITABLE).unwrap();
        regs.detach(poll.registry(), fd, Role::Writer);
        // Still registered: a fresh registration is refused.
        let again = poll
            .registry()
            .register(&mut SourceFd(&fd), token_of(fd), Interest::READABLE);
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        regs.detach(poll.registry(), fd, Role::Reader);
        poll.registry()
            .register(&mut SourceFd(&fd), token_of(fd), Interest::READABLE)
            .expect("deregistered when its last op ended");
    }

    #[test]
    fn interest_only_widens() {
        assert!(covers(
            Interest::READABLE | Interest::WRITABLE,
            Interest::READABLE
        ));
        assert!(!covers(Interest::READABLE, Interest::WRITABLE));
    }
}
