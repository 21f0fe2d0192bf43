//! What the compat driver does on Windows beyond the backend contract (whose suite runs in
//! `readiness::testing`, under Wine by scripts/test-windows.sh): an op's end forgets its
//! socket.

use std::os::windows::io::AsRawSocket;

use corenet_engine::driver::{Driver, Op, Wait};

use crate::readiness::testing::{self, has_final, pair, park_until, recv_token};

#[test]
fn an_ops_end_forgets_its_socket() {
    let (_peer, sock) = pair();
    let mut d = testing::driver(8, 64).unwrap();
    let t = recv_token(3);
    let op = Op::RecvMulti {
        fd: sock.as_raw_socket(),
        token: t,
        streaming: false,
    };
    // SAFETY: no pointer; the socket, created before the driver, outlives it.
    unsafe { d.push(op) };
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert_eq!(d.0.descriptors(), 1);
    // SAFETY: a cancel carries no pointer and no descriptor.
    unsafe { d.push(Op::Cancel { target: t }) };
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(out[0].result, -995, "ERROR_OPERATION_ABORTED: {out:?}");
    assert_eq!(d.0.descriptors(), 0);
}
