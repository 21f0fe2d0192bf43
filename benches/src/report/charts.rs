//! The report's SVG charts: req/s per busy core and latency percentiles, one panel per cell.

use std::path::Path;

use plotters::prelude::*;

use super::{Cell, si};

/// The latency columns of the latency chart, and their axis labels.
const LATENCY: [(&str, &str); 6] = [
    ("p50_us", "p50"),
    ("p90_us", "p90"),
    ("p99_us", "p99"),
    ("p999_us", "p99.9"),
    ("p9999_us", "p99.99"),
    ("max_us", "max"),
];

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

/// An SVG of `panels` chart panels under a title and legend strip: the root (to present when
/// drawn) and the panels.
fn canvas<'a>(
    path: &'a Path,
    panels: usize,
    title: &str,
    peers: &[String],
) -> Result<(Area<'a>, Vec<Area<'a>>), Box<dyn std::error::Error>> {
    let (rows, cols) = grid(panels);
    let root =
        SVGBackend::new(path, (cols as u32 * 340, 64 + rows as u32 * 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(64);
    header(&top, title, peers)?;
    Ok((root, body.split_evenly((rows, cols))))
}

/// A drawing area of an SVG chart.
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Bars of req/s per busy server core, one panel per cell.
pub(super) fn rps_chart(path: &Path, cells: &[Cell], peers: &[String]) -> DrawResult {
    let (root, panels) = canvas(
        path,
        cells.len(),
        "req/s per busy server core (median; whiskers min–max)",
        peers,
    )?;
    for (panel, cell) in panels.iter().zip(cells) {
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
pub(super) fn latency_chart(path: &Path, cells: &[Cell], peers: &[String]) -> DrawResult {
    let (root, panels) = canvas(
        path,
        cells.len(),
        "round-trip latency, µs (median over rounds, log scale)",
        peers,
    )?;
    for (panel, cell) in panels.iter().zip(cells) {
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
