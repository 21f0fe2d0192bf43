//! `corenet-bench report`: turns the results.json of `scripts/bench.sh` into per-cell medians
//! and spreads (added to the JSON as `cells`), one Markdown table (`report.md`) and two SVG
//! charts: req/s per busy server core (`rps_per_core.svg`) and latency percentiles
//! (`latency.svg`), one panel per cell.
//!
//! The input holds `machine` (kernel, CPU, mitigations), `config` (rounds, windows) and `runs`:
//! one flat object per server start with `peer`, `round`, `conns`, `msg`, `pipeline`, `rate`
//! (0 for the closed loop) and the measured figures (see [`METRICS`]); optionally `failures`
//! (objects with `peer`, `cell` and `why`).

mod charts;
mod markdown;

use std::fs;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::cli::ReportArgs;
use charts::{latency_chart, rps_chart};
pub use markdown::markdown;

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
