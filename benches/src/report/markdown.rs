//! The report's Markdown: machine, method, one table per cell and peer, failures.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Cell, Stat, si};

/// A run during which the rest of the machine kept more cores than this busy (`other_cpu`) is
/// marked "busy": something else competed for CPU.
const BUSY_OTHER_CPU: f64 = 0.25;

/// "203k (190k–210k)": median and range.
fn with_range(s: Stat) -> String {
    format!("{} ({}–{})", si(s.median), si(s.min), si(s.max))
}

/// The Markdown report: machine, method, one table, failures.
pub fn markdown(doc: &Value, cells: &[Cell]) -> String {
    let mut md = String::new();
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let machine = doc.get("machine").cloned().unwrap_or(Value::Null);
    let config = doc.get("config").cloned().unwrap_or(Value::Null);
    let n = |v: &Value, k: &str| v.get(k).map(Value::to_string).unwrap_or_else(|| "?".into());
    let _ = writeln!(md, "# corenet echo benchmark\n");
    let _ = writeln!(
        md,
        "{} · kernel {} · {} · {} CPUs\n",
        s(&machine, "date"),
        s(&machine, "kernel"),
        s(&machine, "cpu"),
        n(&machine, "cpus"),
    );
    let _ = writeln!(md, "Mitigations: {}\n", mitigations(&machine));
    let _ = writeln!(
        md,
        "Each server pinned to CPU {}, corenet-bench to CPU {}; {} round(s), peers interleaved \
         in each round, a fresh server and port per run; warm-up {} s, measured {} s. Figures: \
         median (min–max) over rounds. *per core* = req/s ÷ the server's CPU share (busy \
         cores); *syscalls/msg* = the server's `raw_syscalls:sys_enter` over the window ÷ \
         messages; *enters/msg* = `io_uring_enter` calls ÷ messages; *SQEs/enter* = \
         `io_uring:io_uring_submit_req` ÷ `io_uring_enter`; *allocs/msg* = the server's \
         malloc/calloc/realloc calls (libc uprobes) ÷ messages; *enters/turn* = corenet's \
         driver waits per loop turn (its own counters, whole run); latencies in µs (open loop: \
         from each message's scheduled send time); *busy*: something else kept more than a \
         quarter of a core busy during a run.\n",
        n(&config, "server_cpu"),
        n(&config, "client_cpu"),
        n(&config, "rounds"),
        n(&config, "warmup"),
        n(&config, "duration"),
    );
    let _ = writeln!(
        md,
        "| cell | server | req/s | server CPU | req/s per core | p50 | p99 | p99.9 | syscalls/msg | enters/msg | SQEs/enter | allocs/msg | enters/turn | client CPU | runs |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for c in cells {
        for p in &c.peers {
            let med = |m: &str, f: &dyn Fn(f64) -> String| {
                p.get(m).map_or_else(|| "–".to_string(), |s| f(s.median))
            };
            // A single run has no spread to show.
            let range = |m: &str| {
                p.get(m).map_or_else(
                    || "–".to_string(),
                    |s| {
                        if p.runs > 1 {
                            with_range(s)
                        } else {
                            si(s.median)
                        }
                    },
                )
            };
            let mut runs = p.runs.to_string();
            if p.get("errors").is_some_and(|s| s.max > 0.0) {
                runs.push_str(" ⚠ errors");
            }
            if p.get("other_cpu").is_some_and(|s| s.max > BUSY_OTHER_CPU) {
                runs.push_str(" ⚠ busy");
            }
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.key.label(),
                p.peer,
                range("rps"),
                med("server_cpu", &|x| format!("{:.0}%", x * 100.0)),
                range("rps_per_core"),
                med("p50_us", &si),
                range("p99_us"),
                med("p999_us", &si),
                med("syscalls_per_msg", &|x| format!("{x:.3}")),
                med("enters_per_msg", &|x| format!("{x:.3}")),
                med("sqes_per_enter", &|x| format!("{x:.1}")),
                med("allocs_per_msg", &|x| format!("{x:.4}")),
                med("enters_per_turn", &|x| format!("{x:.2}")),
                med("client_cpu", &|x| format!("{x:.0}%")),
                runs,
            );
        }
    }
    if let Some(f) = doc
        .get("failures")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty())
    {
        let _ = writeln!(md, "\nRuns that failed (left out of the table):\n");
        for x in f {
            let _ = writeln!(
                md,
                "- {} {} round {}: {}",
                s(x, "peer"),
                s(x, "cell"),
                n(x, "round"),
                s(x, "why")
            );
        }
    }
    if let Some(w) = doc
        .get("warnings")
        .and_then(Value::as_array)
        .filter(|w| !w.is_empty())
    {
        let _ = writeln!(md, "\nWarnings:\n");
        for x in w {
            let _ = writeln!(md, "- {}", x.as_str().unwrap_or("?"));
        }
    }
    let _ = writeln!(
        md,
        "\nCharts: `rps_per_core.svg` (bars: median, whiskers: min–max), `latency.svg` \
         (median percentiles, log scale)."
    );
    md
}

/// A one-line summary of /sys/devices/system/cpu/vulnerabilities: which ones are mitigated,
/// vulnerable or not affected.
fn mitigations(machine: &Value) -> String {
    let Some(v) = machine.get("vulnerabilities").and_then(Value::as_object) else {
        return "unknown".into();
    };
    let mut not_affected = Vec::new();
    let mut other = Vec::new();
    for (k, val) in v {
        let val = val.as_str().unwrap_or("?");
        if val == "Not affected" {
            not_affected.push(k.as_str());
        } else {
            other.push(format!("{k}: {val}"));
        }
    }
    let mut s = other.join("; ");
    if !not_affected.is_empty() {
        if !s.is_empty() {
            s.push_str("; ");
        }
        let _ = write!(s, "not affected: {}", not_affected.join(", "));
    }
    s
}
