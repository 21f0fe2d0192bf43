//! One test body, every backend: `backend_tests!` turns `name(limit)` into `uring_name` and
//! `compat_name` tests that run `name(Backend::X)` under a watchdog; `runtime` builds a
//! runtime forced onto a backend and checks that it really runs there.

use corenet::{Backend, Builder, Runtime};

/// A builder for tests: `cores` cores, unpinned (parallel tests would starve each other).
pub fn builder(cores: usize) -> Builder {
    Runtime::builder().cores(cores).pin(false)
}

/// Starts `b` forced onto `backend`, asserting the runtime reports it.
pub fn start(backend: Backend, b: Builder) -> Runtime {
    let rt = b
        .backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("{backend:?} runtime: {e}"));
    assert_eq!(rt.backend(), backend);
    rt
}

/// Generates `uring_<name>` and `compat_<name>` tests for each `fn name(Backend)` listed,
/// each under a watchdog of the given limit. `uring_*` exist on Linux only.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident($limit:expr);)*) => {
        $(
            paste::paste! {
                #[cfg(target_os = "linux")]
                #[test]
                fn [<uring_ $name>]() {
                    $crate::common::watchdog(concat!("uring_", stringify!($name)), $limit, || {
                        $name(corenet::Backend::IoUring)
                    });
                }

                #[test]
                fn [<compat_ $name>]() {
                    $crate::common::watchdog(concat!("compat_", stringify!($name)), $limit, || {
                        $name(corenet::Backend::Compat)
                    });
                }
            }
        )*
    };
}
