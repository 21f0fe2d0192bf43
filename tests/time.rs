//! Per-core timers: `sleep` fires in deadline order, `timeout` cancels cleanly.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;

backend_tests! {
    timers_fire_in_order(secs(30));
    timeout_cancels_cleanly(secs(30));
}

fn timers_fire_in_order(backend: Backend) {
    let rt = start(backend, builder(2));
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
}

fn timeout_cancels_cleanly(backend: Backend) {
    let rt = start(backend, builder(2));
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
}
