//! The `tracing` events an operator needs: the backend chosen and why, listen and close,
//! caught panics, ring exhaustion — on both backends. (Silent by default: without a
//! subscriber nothing is printed.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::secs;
use corenet::{Backend, Server};

backend_tests! {
    operator_events_are_traced(secs(30));
}

/// Everything the global subscriber wrote (all tests in this binary share it).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (5 s at most) until the logs contain every one of `needles`.
fn wait_for(needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
        if needles.iter().all(|n| text.contains(n)) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn operator_events_are_traced(backend: Backend) {
    logs();
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    server.close();
    rt.block_on(0, || async {
        corenet::spawn_local(async { panic!("on purpose, for the log") }).detach();
    });
    let backend_name = format!("{backend:?}");
    let needles = [
        "runtime up (forced by Builder::backend)",
        backend_name.as_str(),
        "listening",
        "server closed",
        "task panicked: on purpose, for the log",
    ];
    let text = wait_for(&needles);
    for n in needles {
        assert!(text.contains(n), "no {n:?} in:\n{text}");
    }
    assert!(text.contains(&addr.to_string()), "no {addr} in:\n{text}");
}
