//! Small SVG charts: overlaid curves (loss per step, validation metric per epoch) and the efficiency scatter.

use leptos::prelude::*;

/// A spread along a curve: (x, low, high).
pub type Band = Vec<(f64, f64, f64)>;

/// One method's points, drawn in its colour; with repeated runs, the points are their mean and `band` their spread
/// (x, low, high): a shaded band around a line, an error bar on a dot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    pub band: Band,
}

pub const PALETTE: [&str; 10] =
    ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

/// How values map to the plot area; `log_x` for the trainable-% axis that spans decades.
struct Scale {
    x: (f64, f64),
    y: (f64, f64),
    log_x: bool,
}

impl Scale {
    fn fit(series: &[Series], log_x: bool) -> Option<Self> {
        let bands = series.iter().flat_map(|s| &s.band).flat_map(|&(x, low, high)| [(x, low), (x, high)]);
        let points = series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .chain(bands)
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0));
        let tx = |x: f64| if log_x { x.log10() } else { x };
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in points {
            (x0, x1, y0, y1) = (x0.min(tx(x)), x1.max(tx(x)), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            return None;
        }
        let pad = |lo: f64, hi: f64, by: f64| if hi - lo < 1e-12 { (lo - by, hi + by) } else { (lo, hi) };
        let (x0, x1) = if log_x { (x0.floor(), x1.ceil().max(x0.floor() + 1.0)) } else { pad(x0, x1, 1.0) };
        let (y0, y1) = pad(y0, y1, 0.5);
        let margin = (y1 - y0) * 0.05;
        Some(Self { x: (x0, x1), y: (y0 - margin, y1 + margin), log_x })
    }

    fn px(&self, x: f64) -> f64 {
        let x = if self.log_x { x.log10() } else { x };
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    fn x_ticks(&self) -> Vec<(f64, String)> {
        if self.log_x {
            let (lo, hi) = (self.x.0 as i32, self.x.1 as i32);
            (lo..=hi).map(|e| (10f64.powi(e), format_tick(10f64.powi(e)))).collect()
        } else {
            ticks(self.x.0, self.x.1).into_iter().map(|t| (t, format_tick(t))).collect()
        }
    }
}

fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = nice_step((hi - lo) / 5.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn format_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 1e5) {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// Lines (or, with `dots`, labelled points) for every series, with axes and a legend.
pub fn chart(
    title: &'static str,
    x_label: &'static str,
    series: Vec<Series>,
    log_x: bool,
    dots: bool,
) -> impl IntoView {
    let Some(scale) = Scale::fit(&series, log_x) else {
        return view! { <figure class="chart empty"><figcaption>{title}</figcaption><p class="muted">"no data yet"</p></figure> }
            .into_any();
    };
    let y_ticks: Vec<_> = ticks(scale.y.0, scale.y.1)
        .into_iter()
        .map(|t| {
            let y = scale.py(t);
            view! {
                <line x1=LEFT x2=WIDTH - RIGHT y1=y y2=y class="grid" />
                <text x=LEFT - 6.0 y=y + 4.0 text-anchor="end" class="tick">{format_tick(t)}</text>
            }
        })
        .collect();
    let x_ticks: Vec<_> = scale
        .x_ticks()
        .into_iter()
        .map(|(t, label)| {
            let x = scale.px(t);
            view! {
                <line x1=x x2=x y1=TOP y2=HEIGHT - BOTTOM class="grid" />
                <text x=x y=HEIGHT - BOTTOM + 16.0 text-anchor="middle" class="tick">{label}</text>
            }
        })
        .collect();
    let finite_band = |s: &Series| -> Band {
        s.band
            .iter()
            .copied()
            .filter(|(x, l, h)| x.is_finite() && l.is_finite() && h.is_finite() && (!log_x || *x > 0.0))
            .collect()
    };
    let bands: Vec<_> = series
        .iter()
        .map(|s| {
            let band = finite_band(s);
            if dots {
                // An error bar per point.
                band.iter()
                    .map(|&(x, low, high)| {
                        let (x, y0, y1) = (scale.px(x), scale.py(low), scale.py(high));
                        view! { <path class="band error-bar" d=format!("M{x:.1},{y0:.1}L{x:.1},{y1:.1}M{:.1},{y0:.1}L{:.1},{y0:.1}M{:.1},{y1:.1}L{:.1},{y1:.1}", x - 4.0, x + 4.0, x - 4.0, x + 4.0)
                            stroke=s.color stroke-width="1.5" fill="none" /> }
                        .into_any()
                    })
                    .collect::<Vec<_>>()
            } else if band.len() >= 2 {
                // The upper edge left to right, the lower edge back.
                let upper = band.iter().map(|&(x, _, high)| (scale.px(x), scale.py(high)));
                let lower = band.iter().rev().map(|&(x, low, _)| (scale.px(x), scale.py(low)));
                let d: String = upper
                    .chain(lower)
                    .enumerate()
                    .map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }))
                    .collect::<String>()
                    + "Z";
                vec![view! { <path class="band" d=d fill=s.color fill-opacity="0.15" stroke="none" /> }.into_any()]
            } else {
                Vec::new()
            }
        })
        .collect();
    let marks: Vec<_> = series
        .iter()
        .map(|s| {
            let finite: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
                .collect();
            if dots {
                finite
                    .iter()
                    .map(|&(x, y)| {
                        let (cx, cy) = (scale.px(x), scale.py(y));
                        view! {
                            <circle cx=cx cy=cy r=5 fill=s.color />
                            <text x=cx + 7.0 y=cy - 6.0 class="point-label">{s.name.clone()}</text>
                        }
                        .into_any()
                    })
                    .collect::<Vec<_>>()
            } else {
                let d: String = finite
                    .iter()
                    .enumerate()
                    .map(|(i, &(x, y))| {
                        format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, scale.px(x), scale.py(y))
                    })
                    .collect();
                let single = (finite.len() == 1).then(|| {
                    let (x, y) = finite[0];
                    view! { <circle cx=scale.px(x) cy=scale.py(y) r=3 fill=s.color /> }
                });
                vec![view! { <path d=d stroke=s.color fill="none" stroke-width="2" />{single} }.into_any()]
            }
        })
        .collect();
    let legend: Vec<_> = series
        .iter()
        .map(|s| view! { <span class="legend-item"><i style=format!("background:{}", s.color)></i>{s.name.clone()}</span> })
        .collect();
    view! {
        <figure class="chart">
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=title>
                {y_ticks}
                {x_ticks}
                {bands}
                <line x1=LEFT x2=WIDTH - RIGHT y1=HEIGHT - BOTTOM y2=HEIGHT - BOTTOM class="axis" />
                <line x1=LEFT x2=LEFT y1=TOP y2=HEIGHT - BOTTOM class="axis" />
                {marks}
                <text x=(LEFT + WIDTH - RIGHT) / 2.0 y=HEIGHT - 6.0 text-anchor="middle" class="axis-label">{x_label}</text>
            </svg>
            <div class="legend">{legend}</div>
        </figure>
    }
    .into_any()
}
