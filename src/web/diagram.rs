//! A method card's diagram: one transformer layer between the embeddings and the head, with the places where
//! the method keeps trainable parameters drawn in colour and everything frozen in grey. Drawn from the
//! catalog's [`Site`] list, so a new method needs no drawing code.

use leptos::prelude::*;

use crate::method::Site;

const WIDTH: f64 = 230.0;
const BOX_X: f64 = 60.0;
const BOX_W: f64 = 110.0;
const ROW: f64 = 22.0;

/// A labelled box; `trained` picks the colour.
fn block(x: f64, y: f64, w: f64, label: &str, trained: bool) -> impl IntoView + use<> {
    let class = if trained { "trained" } else { "frozen" };
    view! {
        <g class=class>
            <rect x=x y=y width=w height=ROW - 6.0 rx="3" />
            <text x=x + w / 2.0 y=y + 12.0 text-anchor="middle">{label.to_string()}</text>
        </g>
    }
}

/// A small trained tag beside a block (a low-rank update, a scaling vector, a bias).
fn tag(x: f64, y: f64, label: &str) -> impl IntoView + use<> {
    view! {
        <g class="trained tag">
            <rect x=x y=y + 1.0 width="44" height=ROW - 8.0 rx="7" />
            <text x=x + 22.0 y=y + 12.0 text-anchor="middle">{label.to_string()}</text>
        </g>
    }
}

/// One block of the drawing: a pretrained one (its bias trains under BitFit) or a new one, with optional
/// trained tags left and right of it.
struct Row {
    label: &'static str,
    trained: bool,
    pretrained: bool,
    tags: [Option<&'static str>; 2],
}

pub fn method_diagram(sites: &'static [Site]) -> impl IntoView {
    let has = |site: Site| sites.contains(&site);
    let all = has(Site::AllWeights);
    let pretrained = |label, tags| Row { label, trained: all, pretrained: true, tags };
    let added = |label| Row { label, trained: true, pretrained: false, tags: [None, None] };
    let attention_tag = if has(Site::QueryValueUpdate) {
        Some("Q,V +BA")
    } else if has(Site::Rescaling) {
        Some("K,V,O ×l")
    } else {
        None
    };
    let mut layer =
        vec![pretrained("attention Q K V", [has(Site::AttentionPrefix).then_some("K,V pre"), attention_tag])];
    if has(Site::AttentionAdapter) {
        layer.push(added("adapter"));
    }
    layer.push(pretrained("add & norm", [None, None]));
    layer.push(pretrained("feed-forward", [None, has(Site::Rescaling).then_some("act ×l")]));
    if has(Site::FeedForwardAdapter) {
        layer.push(added("adapter"));
    }
    layer.push(pretrained("add & norm", [None, None]));
    let layer_rows = layer.len() as f64;
    let mut rows = vec![pretrained("embeddings", [has(Site::InputTokens).then_some("prompt"), None])];
    rows.extend(layer);
    rows.push(added("head"));

    let biases = has(Site::Biases);
    let drawn = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let y = 4.0 + i as f64 * ROW;
            let left = row.tags[0].map(|text| tag(BOX_X - 50.0, y, text));
            let right = row.tags[1]
                .or((biases && row.pretrained).then_some("+b"))
                .map(|text| tag(BOX_X + BOX_W + 6.0, y, text));
            view! { {block(BOX_X, y, BOX_W, row.label, row.trained)} {left} {right} }
        })
        .collect_view();
    let (layer_top, layer_bottom) = (2.0 + ROW, 4.0 + ROW * (1.0 + layer_rows) - 4.0);
    let height = 4.0 + ROW * (layer_rows + 2.0);
    view! {
        <svg class="method-diagram" viewBox=format!("0 0 {WIDTH} {height}") width=WIDTH height=height role="img"
            aria-label="where the method's trainable parameters sit">
            <rect class="layer" x=BOX_X - 4.0 y=layer_top width=BOX_W + 8.0 height=layer_bottom - layer_top rx="5" />
            <text class="layer-label" x=BOX_X - 8.0 y=layer_bottom - 4.0 text-anchor="end">"× L"</text>
            {drawn}
        </svg>
    }
}
