//! CPU time used by a load thread, to show when the client itself is the bottleneck.

use std::mem::MaybeUninit;
use std::time::Duration;

/// User plus system CPU time of the calling thread so far
/// (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`); zero if the call fails.
pub fn thread_cpu_time() -> Duration {
    let mut ts = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: `ts` is valid, writable memory for one `timespec`, and the clock id is valid;
    // clock_gettime only writes through the pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, ts.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: clock_gettime returned 0, so it filled in the whole struct.
    let ts = unsafe { ts.assume_init() };
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins for `d` of wall time.
    fn spin(d: Duration) {
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < d {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = thread_cpu_time();
        spin(Duration::from_millis(30));
        assert!(thread_cpu_time() > before);
    }

    #[test]
    fn another_threads_work_is_not_counted() {
        let before = thread_cpu_time();
        std::thread::spawn(|| spin(Duration::from_millis(100)))
            .join()
            .unwrap();
        // Spawning and joining cost this thread far less than the other thread's 100 ms.
        assert!(thread_cpu_time() - before < Duration::from_millis(50));
    }
}
