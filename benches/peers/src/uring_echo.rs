//! uring-echo: a minimal hand-written io_uring echo loop, the practical limit for one core.
//!
//! `uring-echo --addr 127.0.0.1:PORT` prints `listening on <addr>` once bound, then echoes
//! every byte of every connection. One thread, one ring set up with `SINGLE_ISSUER |
//! DEFER_TASKRUN`; one multishot accept; per connection one multishot recv that picks its
//! buffers from a provided-buffer ring, and a `SEND` of each received buffer straight back
//! (one send in flight per connection, so bytes keep their order), after which the buffer
//! goes back to the ring. `TCP_NODELAY` is set on accepted sockets. Nothing else: no timers,
//! no graceful shutdown (stop it with a signal).

#[path = "args.rs"]
mod args;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, Fd};
use io_uring::{IoUring, cqueue, opcode, squeue};
use socket2::{Domain, Socket, Type};

/// Submission queue entries.
const SQ_ENTRIES: u32 = 4096;
/// Completion queue entries (multishot operations post many completions per submission).
const CQ_ENTRIES: u32 = 32768;
/// Buffers in the provided-buffer ring (a power of two, at most 32768).
const BUF_COUNT: u16 = 8192;
/// Size of each provided buffer.
const BUF_SIZE: usize = 16 * 1024;
/// Buffer group id of the ring.
const BGID: u16 = 0;
/// Listen backlog.
const BACKLOG: i32 = 4096;

/// What a completion belongs to: the high 32 bits of its user data (the low 32 are the fd).
const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_SEND: u64 = 3;

fn main() -> ExitCode {
    let addr = match args::addr("uring-echo") {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uring-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A provided-buffer ring: the ring of entries shared with the kernel and the buffers.
struct BufRing {
    entries: *mut BufRingEntry,
    /// Our copy of the tail; published to the kernel by [`BufRing::publish`].
    tail: u16,
    bufs: Vec<u8>,
}

impl BufRing {
    /// Maps the ring, fills it with every buffer and registers it as group [`BGID`].
    fn new(ring: &IoUring) -> io::Result<Self> {
        let bytes = usize::from(BUF_COUNT) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut br = Self {
            entries: ptr.cast(),
            tail: 0,
            bufs: vec![0; usize::from(BUF_COUNT) * BUF_SIZE],
        };
        for bid in 0..BUF_COUNT {
            br.push(bid);
        }
        br.publish();
        // SAFETY: the mapping is page-aligned, holds BUF_COUNT entries and lives (never
        // unmapped) as long as the ring: the process ends with it.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, BUF_COUNT, BGID, 0)?
        };
        Ok(br)
    }

    /// Queues buffer `bid` at our tail (not yet visible to the kernel).
    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (BUF_COUNT - 1));
        let addr = self.bufs.as_mut_ptr() as u64 + u64::from(bid) * BUF_SIZE as u64;
        // SAFETY: `slot` < BUF_COUNT, inside the mapping; the kernel only reads entries
        // between its head and the published tail, and this slot is past the published tail.
        let e = unsafe { &mut *self.entries.add(slot) };
        e.set_addr(addr);
        e.set_len(BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: `entries` is the base of the ring, and the tail field overlays the first
        // entry's reserved field, which is 2-byte aligned; the kernel reads it atomically.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The bytes of buffer `bid` from `off`, `len` long.
    fn slice(&self, bid: u16, off: u32, len: u32) -> *const u8 {
        debug_assert!(off as usize + len as usize <= BUF_SIZE);
        self.bufs[usize::from(bid) * BUF_SIZE + off as usize..].as_ptr()
    }
}

/// A received buffer waiting to be sent back, or being sent.
#[derive(Debug)]
struct Pending {
    bid: u16,
    off: u32,
    len: u32,
}

/// One accepted connection.
#[derive(Debug, Default)]
struct Conn {
    /// Buffers to send, in order; the front one is in flight while `sending`.
    sends: VecDeque<Pending>,
    sending: bool,
    /// A multishot recv is armed.
    recv_armed: bool,
    /// The recv ran out of buffers and must be re-armed once some come back.
    starved: bool,
    /// The peer closed, or a send failed: close once nothing is in flight.
    done: bool,
}

/// The event loop and its state.
struct Loop {
    ring: IoUring,
    bufs: BufRing,
    conns: Vec<Option<Conn>>,
    starved: Vec<RawFd>,
    /// Buffers taken from the ring and not given back yet.
    held: usize,
    listen_fd: RawFd,
}

fn run(addr: SocketAddr) -> io::Result<()> {
    let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    listener.set_reuse_address(true)?;
    listener.bind(&addr.into())?;
    listener.listen(BACKLOG)?;
    let local = listener
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an inet socket"))?;

    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(CQ_ENTRIES)
        .build(SQ_ENTRIES)?;
    let bufs = BufRing::new(&ring)?;
    let mut lp = Loop {
        ring,
        bufs,
        conns: Vec::new(),
        starved: Vec::new(),
        held: 0,
        listen_fd: listener.as_raw_fd(),
    };
    lp.arm_accept()?;
    println!("listening on {local}");

    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(CQ_ENTRIES as usize);
    loop {
        match lp.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e),
        }
        cqes.clear();
        cqes.extend(
            lp.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut returned = false;
        for &(ud, res, flags) in &cqes {
            let fd = (ud & 0xffff_ffff) as RawFd;
            match ud >> 32 {
                OP_ACCEPT => lp.on_accept(res, flags)?,
                OP_RECV => lp.on_recv(fd, res, flags)?,
                OP_SEND => returned |= lp.on_send(fd, res)?,
                other => return Err(io::Error::other(format!("unknown completion {other}"))),
            }
        }
        if returned {
            lp.bufs.publish();
        }
        // Some buffers are in the ring again (or were when the recv failed): re-arm.
        if !lp.starved.is_empty() && lp.held < usize::from(BUF_COUNT) {
            for fd in std::mem::take(&mut lp.starved) {
                if let Some(c) = lp.conn(fd) {
                    c.starved = false;
                    if !c.done {
                        lp.arm_recv(fd)?;
                    }
                }
            }
        }
    }
}

impl Loop {
    fn conn(&mut self, fd: RawFd) -> Option<&mut Conn> {
        self.conns.get_mut(fd as usize).and_then(Option::as_mut)
    }

    /// Queues one SQE, submitting first if the queue is full.
    fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every buffer an SQE points at (the provided buffers) outlives the
            // operation: buffers only go back to the ring after their send completed.
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let e = opcode::AcceptMulti::new(Fd(self.listen_fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(OP_ACCEPT << 32);
        self.push(&e)
    }

    fn arm_recv(&mut self, fd: RawFd) -> io::Result<()> {
        let e = opcode::RecvMulti::new(Fd(fd), BGID)
            .build()
            .user_data(OP_RECV << 32 | fd as u64);
        if let Some(c) = self.conn(fd) {
            c.recv_armed = true;
        }
        self.push(&e)
    }

    /// Sends the front pending buffer of `fd`.
    fn send_front(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(fd as usize).and_then(Option::as_mut) else {
            return Ok(());
        };
        let Some(p) = c.sends.front() else {
            c.sending = false;
            return Ok(());
        };
        c.sending = true;
        let e = opcode::Send::new(Fd(fd), self.bufs.slice(p.bid, p.off, p.len), p.len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(OP_SEND << 32 | fd as u64);
        self.push(&e)
    }

    fn on_accept(&mut self, res: i32, flags: u32) -> io::Result<()> {
        if res >= 0 {
            let fd = res;
            let one: libc::c_int = 1;
            // SAFETY: `fd` is the socket just accepted; the option value is a valid c_int.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&raw const one).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let i = fd as usize;
            if self.conns.len() <= i {
                self.conns.resize_with(i + 1, || None);
            }
            self.conns[i] = Some(Conn::default());
            self.arm_recv(fd)?;
        } else if res != -libc::EINTR && res != -libc::ECONNABORTED {
            eprintln!("uring-echo: accept: {}", io::Error::from_raw_os_error(-res));
        }
        if !cqueue::more(flags) {
            self.arm_accept()?;
        }
        Ok(())
    }

    fn on_recv(&mut self, fd: RawFd, res: i32, flags: u32) -> io::Result<()> {
        let more = cqueue::more(flags);
        let Some(c) = self.conns.get_mut(fd as usize).and_then(Option::as_mut) else {
            return Ok(());
        };
        c.recv_armed = more;
        if res > 0 {
            let bid = cqueue::buffer_select(flags)
                .ok_or_else(|| io::Error::other("recv completion without a buffer"))?;
            self.held += 1;
            c.sends.push_back(Pending {
                bid,
                off: 0,
                len: res as u32,
            });
            let start = !c.sending;
            if start {
                self.send_front(fd)?;
            }
            if !more {
                // The kernel ended the multishot (for instance a full completion queue).
                self.arm_recv(fd)?;
            }
            return Ok(());
        }
        if res == -libc::ENOBUFS {
            if !c.starved {
                c.starved = true;
                self.starved.push(fd);
            }
            return Ok(());
        }
        // End of stream (0) or an error: finish the sends, then close.
        c.done = true;
        self.maybe_close(fd);
        Ok(())
    }

    /// Handles a send completion; true if a buffer went back to the ring.
    fn on_send(&mut self, fd: RawFd, res: i32) -> io::Result<bool> {
        let Some(c) = self.conns.get_mut(fd as usize).and_then(Option::as_mut) else {
            return Ok(false);
        };
        c.sending = false;
        if res < 0 {
            // The peer is gone: give every buffer back, stop the recv, close when it ends.
            for p in c.sends.drain(..) {
                self.bufs.push(p.bid);
                self.held -= 1;
            }
            c.done = true;
            if c.recv_armed {
                // SAFETY: `fd` is an open socket of ours; shutdown ends the armed recv.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
            self.maybe_close(fd);
            return Ok(true);
        }
        let front = c.sends.front_mut().expect("a send was in flight");
        front.off += res as u32;
        front.len -= res as u32;
        let mut returned = false;
        if front.len == 0 {
            let bid = front.bid;
            c.sends.pop_front();
            self.bufs.push(bid);
            self.held -= 1;
            returned = true;
        }
        self.send_front(fd)?;
        self.maybe_close(fd);
        Ok(returned)
    }

    /// Closes `fd` once it is done and nothing of it is in flight.
    fn maybe_close(&mut self, fd: RawFd) {
        let Some(c) = self.conn(fd) else {
            return;
        };
        if c.done && !c.sending && !c.recv_armed {
            let starved = c.starved;
            self.conns[fd as usize] = None;
            if starved {
                self.starved.retain(|&s| s != fd);
            }
            // SAFETY: `fd` is ours and no operation refers to it any more.
            unsafe { libc::close(fd) };
        }
    }
}
