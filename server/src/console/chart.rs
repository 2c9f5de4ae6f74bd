//! Bar charts drawn as SVG on the server: no script, no library, readable
//! on a phone (the drawing scales to the page's width).

use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 10.0;

/// A marker drawn before bar `before`, with its text (the income line).
pub struct Marker<'a> {
    pub before: usize,
    pub text: &'a str,
}

/// Bars of `values` with their labels under them (every `label_every`th
/// shown), titled for screen readers by `title`.
pub fn bars(
    id: &str,
    title: &str,
    values: &[(String, u64)],
    label_every: usize,
    marker: Option<Marker<'_>>,
) -> Markup {
    let max = values
        .iter()
        .map(|(_, value)| *value)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (WIDTH - LEFT) / values.len().max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    let y = |value: u64| TOP + plot - plot * value as f64 / max as f64;
    let every = label_every.max(1);
    html! {
        svg.chart id=(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
            title { (title) }
            line x1=(LEFT) y1=(TOP + plot) x2=(WIDTH) y2=(TOP + plot) stroke="#9aa5b1" {}
            text x=(LEFT - 4.0) y=(TOP + 8.0) text-anchor="end" { (max) }
            text x=(LEFT - 4.0) y=(TOP + plot) text-anchor="end" { "0" }
            @for (index, (label, value)) in values.iter().enumerate() {
                @let x = LEFT + slot * index as f64;
                rect x=(format!("{:.1}", x + slot * 0.12)) y=(format!("{:.1}", y(*value)))
                    width=(format!("{:.1}", slot * 0.76)) height=(format!("{:.1}", TOP + plot - y(*value)))
                    fill="#2f6fa8" {
                    title { (label) ": " (value) }
                }
                @if index % every == 0 {
                    text x=(format!("{:.1}", x + slot / 2.0)) y=(HEIGHT - 10.0) text-anchor="middle" { (label) }
                }
            }
            @if let Some(marker) = marker {
                @let x = LEFT + slot * marker.before as f64;
                line x1=(format!("{x:.1}")) y1=(TOP) x2=(format!("{x:.1}")) y2=(TOP + plot)
                    stroke="#b00020" stroke-dasharray="4 3" {}
                text.marker x=(format!("{:.1}", x + 4.0)) y=(TOP + 10.0) { (marker.text) }
            }
        }
    }
}
