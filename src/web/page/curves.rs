//! A comparison's charts: training loss, validation accuracy, and accuracy against the share of the model trained,
//! a line per method (the mean over its runs, finished and training) with a band of one standard deviation.

use leptos::prelude::*;

use super::compare::LiveCurves;
use super::report::Shown;
use crate::session::compare::Unit;
use crate::stats::Spread;
use crate::train::MethodResult;
use crate::web::charts::{Band, PALETTE, Series, chart};

/// The most points a loss curve is drawn with: a chart is 520 px wide, more points only cost drawing time.
const MAX_CURVE_POINTS: usize = 500;

#[component]
pub fn Charts(shown: Shown, live: LiveCurves) -> impl IntoView {
    let (losses, accuracy, efficiency) = series_of(&shown, &live);
    view! {
        <div class="charts">
            {chart("Training loss (moving average)", "step", losses, false, false)}
            {chart("Validation accuracy %", "epoch", accuracy, false, false)}
            {chart("Accuracy % against trainable % of the model", "trainable % (log scale)", efficiency, true, true)}
        </div>
    }
}

/// Per step (or epoch) of the runs' curves: the mean, and where two or more runs reach it their mean ± one standard
/// deviation.
fn mean_curve(curves: &[Vec<(f64, f64)>]) -> (Vec<(f64, f64)>, Band) {
    let longest = curves.iter().map(Vec::len).max().unwrap_or(0);
    let (mut mean, mut band) = (Vec::new(), Vec::new());
    for i in 0..longest {
        let values: Vec<f64> = curves.iter().filter_map(|c| c.get(i).map(|p| p.1)).collect();
        let x = curves.iter().find_map(|c| c.get(i).map(|p| p.0)).unwrap_or(0.0);
        if let Some(spread) = Spread::of(&values) {
            mean.push((x, spread.mean));
            if spread.n > 1 {
                band.push((x, spread.mean - spread.std, spread.mean + spread.std));
            }
        }
    }
    (mean, band)
}

/// The three charts' series: finished runs and, from `live`, those training; the efficiency plot has the mean
/// reported accuracy with an error bar.
fn series_of(shown: &Shown, live: &LiveCurves) -> (Vec<Series>, Vec<Series>, Vec<Series>) {
    // A method's colour is its place in the comparison, the same while it trains and once it finished, in whatever
    // order parallel workers finish them.
    let color = |index: usize| PALETTE[index % PALETTE.len()];
    let count = shown.plan.as_ref().map_or(shown.methods.len(), |p| p.methods.len());
    let (mut losses, mut accuracy, mut efficiency) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..count {
        let finished: Vec<&MethodResult> = shown
            .methods
            .iter()
            .filter(|(i, _)| *i == index)
            .flat_map(|(_, m)| m.runs.iter().filter_map(|r| r.result.as_ref().ok()))
            .collect();
        let training: Vec<_> = live
            .iter()
            .filter(|(unit, ..)| {
                matches!(*unit, Unit::Run { method, seed } if method == index
                    && !finished.iter().any(|r| r.seed == seed))
            })
            .collect();
        let Some(name) = finished
            .first()
            .map(|r| r.method.clone())
            .or_else(|| shown.plan.as_ref().map(|p| p.methods[index].config.label()))
        else {
            continue;
        };
        if finished.is_empty() && training.is_empty() {
            continue;
        }
        let c = color(index);
        let loss_curves: Vec<Vec<(f64, f64)>> = finished
            .iter()
            .map(|r| smooth(&r.losses))
            .chain(training.iter().map(|(_, curve, _)| smooth(curve)))
            .collect();
        let (points, band) = mean_curve(&loss_curves);
        let label = if training.is_empty() { name.clone() } else { format!("{name} (training)") };
        losses.push(Series { name: label, color: c, points, band });
        let epoch_curves: Vec<Vec<(f64, f64)>> = finished
            .iter()
            .map(|r| r.evaluations.iter().enumerate().map(|(i, (_, m))| ((i + 1) as f64, m.accuracy * 100.0)).collect())
            .chain(training.iter().map(|(_, _, evals)| evals.iter().map(|&(e, a)| (e as f64, a * 100.0)).collect()))
            .collect();
        let (points, band) = mean_curve(&epoch_curves);
        accuracy.push(Series { name: name.clone(), color: c, points, band });
        let reported: Vec<f64> = finished.iter().filter_map(|r| r.reported()).map(|m| m.accuracy * 100.0).collect();
        if let (Some(spread), Some(first)) = (Spread::of(&reported), finished.first()) {
            let x = first.trainable_percent;
            let band =
                if spread.n > 1 { vec![(x, spread.mean - spread.std, spread.mean + spread.std)] } else { vec![] };
            efficiency.push(Series { name, color: c, points: vec![(x, spread.mean)], band });
        }
    }
    (losses, accuracy, efficiency)
}

/// Raw loss per step plus a running mean would clutter the chart: an exponential moving average (0.8) is drawn.
fn smooth(losses: &[f32]) -> Vec<(f64, f64)> {
    let stride = losses.len().div_ceil(MAX_CURVE_POINTS).max(1);
    let mut average = None;
    losses
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let a = average.map_or(l as f64, |a: f64| 0.8 * a + 0.2 * l as f64);
            average = Some(a);
            ((i + 1) as f64, a)
        })
        .filter(|(step, _)| (*step as usize).is_multiple_of(stride) || *step as usize == losses.len())
        .collect()
}
