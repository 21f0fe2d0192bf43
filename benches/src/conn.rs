//! One client connection: queues pattern-filled messages, writes them without blocking, and
//! matches the echoed bytes against the messages in flight.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::pattern::Pattern;

/// Once this many written bytes sit at the front of the send buffer, they are dropped.
const COMPACT_AT: usize = 64 * 1024;

/// Opens a TCP connection within `timeout` and turns it into a nonblocking mio stream with
/// `TCP_NODELAY` on.
pub fn connect_tcp(addr: SocketAddr, timeout: Duration) -> io::Result<mio::net::TcpStream> {
    let stream = StdTcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(mio::net::TcpStream::from_std(stream))
}

/// Opens a Unix-socket connection and turns it into a nonblocking mio stream.
pub fn connect_unix(path: &Path) -> io::Result<mio::net::UnixStream> {
    let stream = StdUnixStream::connect(path)?;
    stream.set_nonblocking(true)?;
    Ok(mio::net::UnixStream::from_std(stream))
}

/// A message that was queued and whose echo has not fully come back yet.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u64,
    sent: Instant,
}

/// The first wrong byte of an echoed message.
#[derive(Debug, Clone, Copy)]
pub struct Mismatch {
    /// Offset of the byte in the message.
    pub offset: usize,
    /// What was sent.
    pub expected: u8,
    /// What came back.
    pub got: u8,
}

/// A message whose last byte came back.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// Connection id.
    pub conn: u32,
    /// Sequence number of the message on its connection.
    pub seq: u64,
    /// When the message was queued for sending.
    pub sent: Instant,
    /// When its last byte was read.
    pub done: Instant,
    /// The first wrong byte, if any.
    pub mismatch: Option<Mismatch>,
}

/// Why a connection stopped.
#[derive(Debug)]
pub enum ConnError {
    /// A read or write failed.
    Io(io::Error),
    /// The server closed the connection.
    Eof {
        /// Messages still waiting for their echo.
        in_flight: usize,
    },
    /// Bytes came back that no message in flight accounts for.
    Unexpected {
        /// How many.
        bytes: usize,
    },
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Eof { in_flight } => {
                write!(
                    f,
                    "server closed the connection with {in_flight} messages in flight"
                )
            }
            Self::Unexpected { bytes } => {
                write!(f, "{bytes} bytes echoed that were never sent")
            }
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// A nonblocking connection and its message bookkeeping. `S` is any byte stream (a TCP or
/// Unix socket).
#[derive(Debug)]
pub struct Conn<S> {
    id: u32,
    stream: S,
    msg_len: usize,
    /// Bytes queued for sending; `out[out_pos..]` is not written yet.
    out: Vec<u8>,
    out_pos: usize,
    in_flight: VecDeque<InFlight>,
    /// Bytes of the front in-flight message already received.
    rx_off: usize,
    /// First wrong byte of the front in-flight message.
    rx_bad: Option<Mismatch>,
    next_seq: u64,
}

impl<S: Read + Write> Conn<S> {
    /// Wraps a connected nonblocking stream; `id` selects the byte pattern.
    pub fn new(id: u32, stream: S, msg_len: usize) -> Self {
        Self {
            id,
            stream,
            msg_len,
            out: Vec::new(),
            out_pos: 0,
            in_flight: VecDeque::new(),
            rx_off: 0,
            rx_bad: None,
            next_seq: 0,
        }
    }

    /// The connection id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The stream, for registering with the poller.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Messages queued whose echo has not fully come back.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queues the next message, stamped as sent at `now` (in the open loop: its scheduled send
    /// time, which latency is measured from); [`Conn::flush`] writes it.
    pub fn enqueue(&mut self, now: Instant) {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos >= COMPACT_AT {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Pattern::new(self.id, seq).extend(&mut self.out, self.msg_len);
        self.in_flight.push_back(InFlight { seq, sent: now });
    }

    /// Writes queued bytes until done or the socket is full. A short write means the send
    /// buffer is full, so it ends the attempt without a further write that would only fail
    /// with `WouldBlock` (the next writable edge resumes it).
    pub fn flush(&mut self) -> Result<(), ConnError> {
        while self.out_pos < self.out.len() {
            let want = self.out.len() - self.out_pos;
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero).into()),
                Ok(n) => {
                    self.out_pos += n;
                    if n < want {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads until the socket is drained, checking every byte; calls `on_done` for each
    /// message whose last byte arrived and returns how many did. A read that does not fill
    /// `scratch` drained the socket, so no further read is made to see `WouldBlock` (new data
    /// raises a new edge; tokio relies on the same).
    pub fn read_ready(
        &mut self,
        scratch: &mut [u8],
        mut on_done: impl FnMut(Completion),
    ) -> Result<usize, ConnError> {
        let mut done = 0;
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    return Err(ConnError::Eof {
                        in_flight: self.in_flight.len(),
                    });
                }
                Ok(n) => {
                    done += self.consume(&scratch[..n], Instant::now(), &mut on_done)?;
                    if n < scratch.len() {
                        return Ok(done);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(done),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Matches `data`, read at `now`, against the messages in flight.
    fn consume(
        &mut self,
        mut data: &[u8],
        now: Instant,
        on_done: &mut impl FnMut(Completion),
    ) -> Result<usize, ConnError> {
        let mut done = 0;
        while !data.is_empty() {
            let Some(&front) = self.in_flight.front() else {
                return Err(ConnError::Unexpected { bytes: data.len() });
            };
            let take = (self.msg_len - self.rx_off).min(data.len());
            let (chunk, rest) = data.split_at(take);
            if self.rx_bad.is_none() {
                let pattern = Pattern::new(self.id, front.seq);
                if let Some(i) = pattern.first_mismatch(self.rx_off, chunk) {
                    self.rx_bad = Some(Mismatch {
                        offset: self.rx_off + i,
                        expected: pattern.byte(self.rx_off + i),
                        got: chunk[i],
                    });
                }
            }
            self.rx_off += take;
            data = rest;
            if self.rx_off == self.msg_len {
                self.in_flight.pop_front();
                on_done(Completion {
                    conn: self.id,
                    seq: front.seq,
                    sent: front.sent,
                    done: now,
                    mismatch: self.rx_bad.take(),
                });
                self.rx_off = 0;
                done += 1;
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory stream: writes land in `sent`, reads drain `echo` in `chunk`-sized pieces.
    #[derive(Debug, Default)]
    struct Mem {
        sent: Vec<u8>,
        echo: VecDeque<u8>,
        chunk: usize,
    }

    impl Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.echo.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.chunk).min(self.echo.len());
            for b in &mut buf[..n] {
                *b = self.echo.pop_front().unwrap();
            }
            Ok(n)
        }
    }

    impl Write for Mem {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn conn_with_echo(chunk: usize, corrupt: Option<usize>) -> (Conn<Mem>, Vec<Completion>) {
        let mut c = Conn::new(
            7,
            Mem {
                chunk,
                ..Mem::default()
            },
            10,
        );
        let now = Instant::now();
        for _ in 0..3 {
            c.enqueue(now);
        }
        c.flush().unwrap();
        let mut echo = std::mem::take(&mut c.stream.sent);
        assert_eq!(echo.len(), 30);
        if let Some(i) = corrupt {
            echo[i] ^= 0xff;
        }
        c.stream.echo = echo.into();
        let mut done = Vec::new();
        let mut n = 0;
        // A short read ends `read_ready`; each further call stands for a new readable edge.
        while !c.stream.echo.is_empty() {
            n += c.read_ready(&mut [0; 64], |d| done.push(d)).unwrap();
        }
        assert_eq!(n, done.len());
        (c, done)
    }

    #[test]
    fn echoes_complete_in_order_whatever_the_chunking() {
        for chunk in [1, 3, 10, 64] {
            let (_, done) = conn_with_echo(chunk, None);
            let seqs: Vec<u64> = done.iter().map(|d| d.seq).collect();
            assert_eq!(seqs, [0, 1, 2]);
            assert!(done.iter().all(|d| d.mismatch.is_none() && d.conn == 7));
        }
    }

    #[test]
    fn corrupted_byte_is_reported_once() {
        let (_, done) = conn_with_echo(4, Some(13));
        assert!(done[0].mismatch.is_none());
        let m = done[1].mismatch.expect("message 1 is corrupt");
        assert_eq!(m.offset, 3);
        assert_eq!(m.got, !m.expected);
        assert!(done[2].mismatch.is_none());
    }

    #[test]
    fn extra_bytes_are_an_error() {
        let (mut c, _) = conn_with_echo(64, None);
        c.stream.echo.push_back(1);
        assert!(matches!(
            c.read_ready(&mut [0; 64], |_| {}),
            Err(ConnError::Unexpected { bytes: 1 })
        ));
    }
}
