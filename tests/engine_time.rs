//! Per-core timers: `sleep` fires in deadline order, `timeout` cancels cleanly.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{secs, watchdog};
use corenet::{Backend, Runtime};

fn runtime() -> Runtime {
    let rt = Runtime::builder().cores(2).pin(false).build().unwrap();
    assert_eq!(rt.backend(), Backend::IoUring);
    rt
}

#[test]
fn uring_timers_fire_in_order() {
    watchdog("uring_timers_fire_in_order", secs(30), || {
        let rt = runtime();
        let order = rt.block_on(1, || async {
            let order = Rc::new(RefCell::new(Vec::new()));
            let start = Instant::now();
            let mut tasks = Vec::new();
            for ms in [50u64, 10, 30, 20, 40] {
                let order = order.clone();
                tasks.push(corenet::spawn_local(async move {
                    corenet::sleep(Duration::from_millis(ms)).await;
                    assert!(
                        start.elapsed() >= Duration::from_millis(ms),
                        "{ms} ms timer fired early"
                    );
                    order.borrow_mut().push(ms);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            Rc::try_unwrap(order).unwrap().into_inner()
        });
        assert_eq!(order, [10, 20, 30, 40, 50]);
    });
}

#[test]
fn uring_timeout_cancels_cleanly() {
    watchdog("uring_timeout_cancels_cleanly", secs(30), || {
        let rt = runtime();
        rt.block_on(0, || async {
            let start = Instant::now();
            let r = corenet::timeout(
                Duration::from_millis(20),
                corenet::sleep(Duration::from_secs(3600)),
            )
            .await;
            assert!(r.is_err(), "an hour-long sleep finished within 20 ms");
            assert!(start.elapsed() < Duration::from_secs(5));
            let r = corenet::timeout(Duration::from_secs(3600), async { 7 }).await;
            assert_eq!(r, Ok(7));
            // The cancelled hour-long timer must not keep the core from sleeping briefly.
            corenet::sleep(Duration::from_millis(5)).await;
        });
    });
}
