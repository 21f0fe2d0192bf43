//! `corenet-bench report`: turns the results.json of `scripts/bench.sh` into per-cell medians
//! and spreads (added to the JSON as `cells`), one Markdown table (`report.md`) and two SVG
//! charts: req/s per busy server core (`rps_per_core.svg`) and latency percentiles
//! (`latency.svg`), one panel per cell.
//!
//! The input holds `machine` (kernel, CPU, mitigations), `config` (rounds, windows) and `runs`:
//! one flat object per server start with `peer`, `round`, `conns`, `msg`, `pipeline`, `rate`
//! (0 for the closed loop) and the measured figures (see [`METRICS`]); optionally `failures`
//! (objects with `peer`, `cell` and `why`).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use plotters::prelude::*;
use serde_json::{Map, Value, json};

use crate::cli::ReportArgs;

/// The figures aggregated per cell and peer, as named in each run.
pub const METRICS: [&str; 18] = [
    "rps",
    "server_cpu",
    "rps_per_core",
    "syscalls_per_msg",
    "enters_per_msg",
    "sqes_per_enter",
    "allocs_per_msg",
    "enters_per_turn",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "p9999_us",
    "max_us",
    "errors",
    "client_cpu",
    "other_cpu",
    "psi_cpu_some",
];

/// The latency columns of the latency chart, and their axis labels.
const LATENCY: [(&str, &str); 6] = [
    ("p50_us", "p50"),
    ("p90_us", "p90"),
    ("p99_us", "p99"),
    ("p999_us", "p99.9"),
    ("p9999_us", "p99.99"),
    ("max_us", "max"),
];

/// A run during which the rest of the machine kept more cores than this busy (`other_cpu`) is
/// marked "busy": something else competed for CPU.
const BUSY_OTHER_CPU: f64 = 0.25;

/// Distinct colours, one per peer in order of first appearance.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A cell of the matrix: connections × message size × pipeline, or an open-loop rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellKey {
    conns: u64,
    msg: u64,
    pipeline: u64,
    /// Total req/s of the open loop; 0 for the closed loop.
    rate: u64,
}

impl CellKey {
    /// "50×64B×1", or "50×64B @ 20k/s" for the open loop.
    pub fn label(&self) -> String {
        if self.rate > 0 {
            format!("{}×{}B @ {}/s", self.conns, self.msg, si(self.rate as f64))
        } else {
            format!("{}×{}B×{}", self.conns, self.msg, self.pipeline)
        }
    }
}

/// Median and range of one figure over the rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stat {
    /// The median and range of `values`; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// (max − min) / median, the relative spread.
    pub fn spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

/// One peer's aggregate in one cell.
#[derive(Debug, Clone)]
pub struct PeerStats {
    /// The peer's name.
    pub peer: String,
    /// Runs that went into it.
    pub runs: usize,
    /// One entry per name in [`METRICS`] (absent where no run had it).
    pub stats: Vec<(&'static str, Stat)>,
}

impl PeerStats {
    /// The aggregate of `metric`, if any run had it.
    pub fn get(&self, metric: &str) -> Option<Stat> {
        self.stats
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, s)| *s)
    }
}

/// One cell: its key and each peer's aggregate, peers in order of first appearance.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The cell.
    pub key: CellKey,
    /// Per peer.
    pub peers: Vec<PeerStats>,
}

/// Groups `runs` by cell and peer (both in order of first appearance) and aggregates each.
pub fn aggregate(runs: &[Value]) -> Result<Vec<Cell>, String> {
    let mut keys: Vec<CellKey> = Vec::new();
    let mut peers: Vec<String> = Vec::new();
    let mut parsed = Vec::with_capacity(runs.len());
    for (i, r) in runs.iter().enumerate() {
        let num = |k: &str| {
            r.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("run {i}: missing or bad {k:?}"))
        };
        let key = CellKey {
            conns: num("conns")?,
            msg: num("msg")?,
            pipeline: num("pipeline")?,
            rate: r.get("rate").and_then(Value::as_u64).unwrap_or(0),
        };
        let peer = r
            .get("peer")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("run {i}: missing \"peer\""))?
            .to_string();
        if !keys.contains(&key) {
            keys.push(key);
        }
        if !peers.contains(&peer) {
            peers.push(peer.clone());
        }
        parsed.push((key, peer, r));
    }
    let mut cells = Vec::new();
    for key in keys {
        let mut per_peer = Vec::new();
        for peer in &peers {
            let mine: Vec<&Value> = parsed
                .iter()
                .filter(|(k, p, _)| *k == key && p == peer)
                .map(|(_, _, r)| *r)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let stats = METRICS
                .iter()
                .filter_map(|&m| {
                    let values: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| r.get(m).and_then(Value::as_f64))
                        .collect();
                    Stat::of(&values).map(|s| (m, s))
                })
                .collect();
            per_peer.push(PeerStats {
                peer: peer.clone(),
                runs: mine.len(),
                stats,
            });
        }
        cells.push(Cell {
            key,
            peers: per_peer,
        });
    }
    Ok(cells)
}

/// The `cells` array added to results.json.
fn cells_json(cells: &[Cell]) -> Value {
    Value::Array(
        cells
            .iter()
            .map(|c| {
                let peers: Vec<Value> = c
                    .peers
                    .iter()
                    .map(|p| {
                        let mut o = Map::new();
                        o.insert("peer".into(), json!(p.peer));
                        o.insert("runs".into(), json!(p.runs));
                        for (m, s) in &p.stats {
                            o.insert(
                                (*m).into(),
                                json!({"median": s.median, "min": s.min, "max": s.max, "spread": s.spread()}),
                            );
                        }
                        Value::Object(o)
                    })
                    .collect();
                json!({
                    "cell": c.key.label(),
                    "conns": c.key.conns,
                    "msg": c.key.msg,
                    "pipeline": c.key.pipeline,
                    "rate": c.key.rate,
                    "peers": peers,
                })
            })
            .collect(),
    )
}

/// Runs the subcommand.
pub fn run(args: &ReportArgs) -> Result<(), String> {
    let path = &args.results;
    let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    let runs = doc
        .get("runs")
        .and_then(Value::as_array)
        .ok_or("no \"runs\" array")?
        .clone();
    let cells = aggregate(&runs)?;
    doc["cells"] = cells_json(&cells);
    let pretty = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    fs::write(path, pretty + "\n").map_err(|e| format!("write {}: {e}", path.display()))?;

    let out = match &args.out {
        Some(d) => d.clone(),
        None => path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into()),
    };
    fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let md = markdown(&doc, &cells);
    let md_path = out.join("report.md");
    fs::write(&md_path, &md).map_err(|e| format!("write {}: {e}", md_path.display()))?;
    let peers = peer_order(&cells);
    if !cells.is_empty() {
        let p = out.join("rps_per_core.svg");
        rps_chart(&p, &cells, &peers).map_err(|e| format!("draw {}: {e}", p.display()))?;
        let p = out.join("latency.svg");
        latency_chart(&p, &cells, &peers).map_err(|e| format!("draw {}: {e}", p.display()))?;
    }
    eprintln!(
        "corenet-bench report: {} runs in {} cells; wrote {}, rps_per_core.svg, latency.svg",
        runs.len(),
        cells.len(),
        md_path.display()
    );
    Ok(())
}

/// Every peer, in order of first appearance.
fn peer_order(cells: &[Cell]) -> Vec<String> {
    let mut peers: Vec<String> = Vec::new();
    for c in cells {
        for p in &c.peers {
            if !peers.contains(&p.peer) {
                peers.push(p.peer.clone());
            }
        }
    }
    peers
}

/// 3 significant digits with k/M suffixes: 203k, 3.68M, 12.3, 0.056.
pub fn si(x: f64) -> String {
    let (v, suffix) = if x.abs() >= 1e6 {
        (x / 1e6, "M")
    } else if x.abs() >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let digits = if v.abs() >= 100.0 || v == 0.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 1.0 || !suffix.is_empty() {
        2
    } else {
        3
    };
    format!("{v:.digits$}{suffix}")
}

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

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Grid of `n` panels: (rows, cols).
fn grid(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 4);
    (n.div_ceil(cols), cols)
}

/// The title and legend strip shared by both charts.
fn header<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    peers: &[String],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    area.draw(&Text::new(
        title.to_string(),
        (12, 8),
        ("sans-serif", 20).into_font(),
    ))?;
    let mut x = 12;
    for (i, p) in peers.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        area.draw(&Rectangle::new([(x, 38), (x + 12, 50)], c.filled()))?;
        area.draw(&Text::new(
            p.clone(),
            (x + 16, 37),
            ("sans-serif", 14).into_font(),
        ))?;
        x += 30 + 8 * p.len() as i32;
    }
    Ok(())
}

/// Bars of req/s per busy server core, one panel per cell.
fn rps_chart(path: &Path, cells: &[Cell], peers: &[String]) -> DrawResult {
    let (rows, cols) = grid(cells.len());
    let root =
        SVGBackend::new(path, (cols as u32 * 340, 64 + rows as u32 * 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(64);
    header(
        &top,
        "req/s per busy server core (median; whiskers min–max)",
        peers,
    )?;
    for (panel, cell) in body.split_evenly((rows, cols)).iter().zip(cells) {
        let top_y = cell
            .peers
            .iter()
            .filter_map(|p| p.get("rps_per_core"))
            .map(|s| s.max)
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(cell.key.label(), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(6)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..peers.len().max(1) as f64, 0f64..top_y)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_label_formatter(&|v| si(*v))
            .draw()?;
        for p in &cell.peers {
            let Some(s) = p.get("rps_per_core") else {
                continue;
            };
            let i = peers.iter().position(|x| *x == p.peer).unwrap_or(0);
            let c = COLOURS[i % COLOURS.len()];
            let x = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, s.median)],
                c.filled(),
            )))?;
            let mid = x + 0.5;
            chart.draw_series([
                PathElement::new(vec![(mid, s.min), (mid, s.max)], BLACK),
                PathElement::new(vec![(mid - 0.15, s.min), (mid + 0.15, s.min)], BLACK),
                PathElement::new(vec![(mid - 0.15, s.max), (mid + 0.15, s.max)], BLACK),
            ])?;
        }
    }
    root.present()?;
    Ok(())
}

/// Median latency percentiles per peer, one panel per cell, log scale.
fn latency_chart(path: &Path, cells: &[Cell], peers: &[String]) -> DrawResult {
    let (rows, cols) = grid(cells.len());
    let root =
        SVGBackend::new(path, (cols as u32 * 340, 64 + rows as u32 * 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(64);
    header(
        &top,
        "round-trip latency, µs (median over rounds, log scale)",
        peers,
    )?;
    for (panel, cell) in body.split_evenly((rows, cols)).iter().zip(cells) {
        let values = cell.peers.iter().flat_map(|p| {
            LATENCY
                .iter()
                .filter_map(|(m, _)| p.get(m))
                .map(|s| s.median)
                .filter(|v| *v > 0.0)
        });
        let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        // Whole decades, so that the log axis gets labelled ticks.
        let (lo, hi) = if hi > 0.0 {
            (
                10f64.powf(lo.log10().floor()),
                10f64.powf((hi * 1.01).log10().ceil()),
            )
        } else {
            (1.0, 10.0)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(cell.key.label(), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(48)
            .build_cartesian_2d(-1i32..LATENCY.len() as i32, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(LATENCY.len() + 2)
            .x_label_formatter(&|v| {
                usize::try_from(*v)
                    .ok()
                    .and_then(|i| LATENCY.get(i))
                    .map_or(String::new(), |(_, l)| (*l).to_string())
            })
            .y_label_formatter(&|v| si(*v))
            .draw()?;
        for p in &cell.peers {
            let i = peers.iter().position(|x| *x == p.peer).unwrap_or(0);
            let c = COLOURS[i % COLOURS.len()];
            let pts: Vec<(i32, f64)> = LATENCY
                .iter()
                .enumerate()
                .filter_map(|(k, (m, _))| p.get(m).map(|s| (k as i32, s.median.max(lo))))
                .collect();
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
            chart.draw_series(pts.into_iter().map(|xy| Circle::new(xy, 3, c.filled())))?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(peer: &str, round: u64, conns: u64, rate: u64, rps: f64) -> Value {
        json!({
            "peer": peer, "round": round, "conns": conns, "msg": 64, "pipeline": 1,
            "rate": rate, "rps": rps, "rps_per_core": rps * 2.0, "p50_us": 10.0,
            "p99_us": rps / 1000.0, "errors": 0
        })
    }

    #[test]
    fn median_and_range() {
        let s = Stat::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Stat::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!((s.spread() - 1.2).abs() < 1e-9);
        assert!(Stat::of(&[]).is_none());
        assert!(Stat::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn runs_group_by_cell_and_peer_in_order_of_appearance() {
        let runs = vec![
            run("b", 1, 50, 0, 100.0),
            run("a", 1, 50, 0, 200.0),
            run("b", 1, 50, 20_000, 19_000.0),
            run("b", 2, 50, 0, 120.0),
            run("a", 2, 50, 0, 180.0),
            run("b", 3, 50, 0, 110.0),
        ];
        let cells = aggregate(&runs).unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].key.label(), "50×64B×1");
        assert_eq!(cells[1].key.label(), "50×64B @ 20.0k/s");
        let names: Vec<&str> = cells[0].peers.iter().map(|p| p.peer.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        let b = &cells[0].peers[0];
        assert_eq!(b.runs, 3);
        let rps = b.get("rps").unwrap();
        assert_eq!((rps.median, rps.min, rps.max), (110.0, 100.0, 120.0));
        assert_eq!(b.get("rps_per_core").unwrap().median, 220.0);
        assert!(b.get("syscalls_per_msg").is_none());
        assert_eq!(cells[1].peers.len(), 1);

        let md = markdown(&json!({"runs": runs}), &cells);
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 2 + 3, "{md}");
        assert!(
            table[2].starts_with("| 50×64B×1 | b | 110 (100–120) |"),
            "{}",
            table[2]
        );
    }

    #[test]
    fn bad_runs_are_refused() {
        assert!(aggregate(&[json!({"peer": "x", "conns": 1, "msg": 1})]).is_err());
        assert!(aggregate(&[json!({"conns": 1, "msg": 1, "pipeline": 1})]).is_err());
    }

    #[test]
    fn si_keeps_three_digits() {
        assert_eq!(si(203_456.0), "203k");
        assert_eq!(si(3_680_000.0), "3.68M");
        assert_eq!(si(12.34), "12.3");
        assert_eq!(si(0.0561), "0.056");
        assert_eq!(si(20_000.0), "20.0k");
        assert_eq!(si(0.0), "0");
    }

    #[test]
    fn charts_render() {
        let dir = std::env::temp_dir().join(format!("corenet-bench-report-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let runs = vec![
            run("a", 1, 50, 0, 100.0),
            run("b", 1, 50, 0, 90.0),
            run("a", 1, 5, 0, 10.0),
        ];
        let cells = aggregate(&runs).unwrap();
        let peers = peer_order(&cells);
        rps_chart(&dir.join("r.svg"), &cells, &peers).unwrap();
        latency_chart(&dir.join("l.svg"), &cells, &peers).unwrap();
        let svg = fs::read_to_string(dir.join("r.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("50×64B×1"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
