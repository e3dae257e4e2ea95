//! The loss curve and the accuracy curves as SVG files (plotters' SVG backend: no
//! system libraries).
//!
//! A plot draws at most [`MAX_POINTS`] points per curve, whatever the number of epochs:
//! a longer curve is cut into `MAX_POINTS / 2` buckets of consecutive points, each drawn
//! by its lowest and its highest point in epoch order ([`decimate`]), so every spike
//! stays visible and the file stays small (a few hundred KB for 10⁸ epochs; the axis
//! label then says how many epochs each bucket holds).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::outdir::{register, unregister};

/// What every plot this program writes contains, so that an existing file can be
/// recognised as one (and only then replaced).
const MARK: &str = "backprop-oracle:";

/// The most points a plotted curve has (see the module docs).
pub const MAX_POINTS: usize = 4096;

/// The curve `points` with at most [`MAX_POINTS`] points: all of them when they fit,
/// else the lowest and the highest point (by `y`, in their order) of each of
/// `MAX_POINTS / 2` buckets of consecutive points; returns the points and the number of
/// points a bucket holds (1 when nothing was dropped).
pub fn decimate(points: &[(f64, f64)]) -> (Vec<(f64, f64)>, usize) {
    decimate_by(points.len(), |i| points[i])
}

/// [`decimate`] of the `n` points `point(0) … point(n − 1)`, read in place (a loss
/// history is never copied into points).
fn decimate_by(n: usize, point: impl Fn(usize) -> (f64, f64)) -> (Vec<(f64, f64)>, usize) {
    if n <= MAX_POINTS {
        return ((0..n).map(point).collect(), 1);
    }
    let per = n.div_ceil(MAX_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_POINTS);
    for first in (0..n).step_by(per) {
        let (mut lo, mut hi) = (point(first), point(first));
        let (mut lo_at, mut hi_at) = (first, first);
        for i in first + 1..(first + per).min(n) {
            let p = point(i);
            if p.1 < lo.1 {
                (lo, lo_at) = (p, i);
            }
            if p.1 > hi.1 {
                (hi, hi_at) = (p, i);
            }
        }
        match lo_at.cmp(&hi_at) {
            std::cmp::Ordering::Less => out.extend([lo, hi]),
            std::cmp::Ordering::Greater => out.extend([hi, lo]),
            std::cmp::Ordering::Equal => out.push(lo),
        }
    }
    (out, per)
}

/// The x axis's label: `epoch`, or with the bucket size of a decimated curve.
fn epoch_label(per: usize) -> String {
    if per > 1 {
        format!("epoch (each {per} epochs drawn as their lowest and highest value)")
    } else {
        "epoch".into()
    }
}

/// Checks, before any work is done, that `path` can be written: its folder exists, it
/// is not a folder, and if it exists it is a plot this program wrote (anything else is
/// never overwritten).
pub fn check_target(path: &Path, flag: &str) -> Result<()> {
    let bad = |p: &str| Error::invalid(flag, format!("{}: {p}", path.display()));
    if path.is_dir() {
        return Err(bad("is a folder, expected an .svg file name"));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let ours = meta.is_file()
            && meta.len() <= 1 << 24
            && std::fs::read_to_string(path)
                .is_ok_and(|text| text.starts_with("<svg") && text.contains(MARK));
        if !ours {
            return Err(bad(
                "exists and is not a plot that backprop-oracle wrote; it is not overwritten (choose another name)",
            ));
        }
    }
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.is_dir() => {
            Err(bad("its folder does not exist"))
        }
        _ => Ok(()),
    }
}

/// Draws `loss` (one value per epoch, decimated to at most [`MAX_POINTS`] points) into
/// `path`; `log_scale` puts the loss axis on a log scale. The file is written to a
/// temporary name and renamed into place.
pub fn loss_curve(path: &Path, loss: &[f64], log_scale: bool, title: &str) -> Result<()> {
    let io = |e: String| Error::file(path, e);
    if loss.is_empty() {
        return Err(io("no epochs to plot".into()));
    }
    if log_scale {
        if let Some((e, v)) = loss.iter().enumerate().find(|(_, v)| **v <= 0.0) {
            return Err(Error::invalid(
                "--log-scale",
                format!("epoch {e} has loss {v}, which a log scale cannot show"),
            ));
        }
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| io(e.to_string()))?;
        let n = loss.len() as f64;
        let (lo, hi) = loss
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let (points, per) = decimate_by(loss.len(), |e| (e as f64, loss[e]));
        let series = points.iter().copied();
        let x_desc = epoch_label(per);
        let mut chart = ChartBuilder::on(&root);
        chart
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70);
        if log_scale {
            let mut c = chart
                .build_cartesian_2d(0f64..n, (lo * 0.9..hi * 1.1).log_scale())
                .map_err(|e| io(e.to_string()))?;
            c.configure_mesh()
                .x_desc(&x_desc)
                .y_desc("total loss (log)")
                .draw()
                .map_err(|e| io(e.to_string()))?;
            c.draw_series(LineSeries::new(series, &BLUE))
                .map_err(|e| io(e.to_string()))?;
        } else {
            let mut c = chart
                .build_cartesian_2d(0f64..n, 0f64.min(lo)..hi * 1.05)
                .map_err(|e| io(e.to_string()))?;
            c.configure_mesh()
                .x_desc(&x_desc)
                .y_desc("total loss")
                .draw()
                .map_err(|e| io(e.to_string()))?;
            c.draw_series(LineSeries::new(series, &BLUE))
                .map_err(|e| io(e.to_string()))?;
        }
        root.present().map_err(|e| io(e.to_string()))?;
    }
    write_svg(path, svg, title)
}

/// Draws accuracy curves, each `(name, [(epoch, fraction right)])` (decimated to at most
/// [`MAX_POINTS`] points each), into `path` (the accuracy axis up to 100%).
pub fn accuracy_curves(path: &Path, curves: &[(&str, Vec<(f64, f64)>)], title: &str) -> Result<()> {
    let io = |e: String| Error::file(path, e);
    let last = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.0))
        .fold(0.0f64, f64::max);
    // From 5 points below the lowest accuracy (in tens) to 100%.
    let lowest = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| 100.0 * p.1))
        .fold(100.0f64, f64::min);
    let bottom = ((lowest - 5.0) / 10.0).floor().max(0.0) * 10.0;
    let decimated: Vec<(Vec<(f64, f64)>, usize)> =
        curves.iter().map(|(_, c)| decimate(c)).collect();
    let per = decimated.iter().map(|d| d.1).max().unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| io(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..last + 1.0, bottom..100.0)
            .map_err(|e| io(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(if per > 1 {
                format!("epoch (each {per} evaluations drawn as their lowest and highest value)")
            } else {
                "epoch".into()
            })
            .y_desc("accuracy (%)")
            .draw()
            .map_err(|e| io(e.to_string()))?;
        for (i, ((name, _), (points, _))) in curves.iter().zip(&decimated).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(e, a)| (e, 100.0 * a)),
                    color,
                ))
                .map_err(|e| io(e.to_string()))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| io(e.to_string()))?;
        root.present().map_err(|e| io(e.to_string()))?;
    }
    write_svg(path, svg, title)
}

/// Writes a drawn plot to a temporary name and renames it into place.
fn write_svg(path: &Path, svg: String, title: &str) -> Result<()> {
    debug_assert!(title.starts_with(MARK) && svg.contains(MARK));
    let tmp = path.with_extension(format!("svg.tmp-{}", std::process::id()));
    register(&tmp);
    let result = std::fs::write(&tmp, svg)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        });
    unregister(&tmp);
    result
}
