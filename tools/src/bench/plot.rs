//! The run as an SVG picture: throughput of each series over time (warm-up
//! shaded) and each series' latency percentile curve on the usual
//! "nines" axis (0 %, 90 %, 99 %, 99.9 % …). Hand-written SVG: no fonts or
//! rendering libraries needed.
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::timeline::Series;

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 340.0;
const MARGIN_LEFT: f64 = 90.0;
const MARGIN_RIGHT: f64 = 30.0;
const MARGIN_TOP: f64 = 40.0;
const MARGIN_BOTTOM: f64 = 50.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
/// Decades of the percentile axis: 5 reaches 99.999 %.
const NINES: f64 = 5.0;

/// A rectangle of the picture with linear data → pixel mapping.
struct Panel {
    top: f64,
    x_max: f64,
    y_max: f64,
}

impl Panel {
    fn plot_width() -> f64 {
        WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    }

    fn plot_height() -> f64 {
        PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    }

    fn x(&self, value: f64) -> f64 {
        MARGIN_LEFT + (value / self.x_max).clamp(0.0, 1.0) * Self::plot_width()
    }

    fn y(&self, value: f64) -> f64 {
        self.top + MARGIN_TOP + (1.0 - (value / self.y_max).clamp(0.0, 1.0)) * Self::plot_height()
    }

    fn frame(&self, svg: &mut String, title: &str, x_label: &str, y_label: &str) {
        let (left, top) = (MARGIN_LEFT, self.top + MARGIN_TOP);
        let (width, height) = (Self::plot_width(), Self::plot_height());
        push(
            svg,
            format!(
                r##"<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#444"/>"##
            ),
        );
        push(
            svg,
            format!(
                r#"<text x="{}" y="{}" font-size="16" text-anchor="middle" font-weight="bold">{}</text>"#,
                left + width / 2.0,
                self.top + 24.0,
                escape(title)
            ),
        );
        push(
            svg,
            format!(
                r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
                left + width / 2.0,
                top + height + 40.0,
                escape(x_label)
            ),
        );
        push(
            svg,
            format!(
                r#"<text x="20" y="{}" font-size="12" text-anchor="middle" transform="rotate(-90 20 {})">{}</text>"#,
                top + height / 2.0,
                top + height / 2.0,
                escape(y_label)
            ),
        );
        for step in 0..=5 {
            let value = self.y_max * f64::from(step) / 5.0;
            let y = self.y(value);
            push(
                svg,
                format!(
                    r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>"##,
                    left + width,
                    left - 6.0,
                    y + 4.0,
                    short_number(value)
                ),
            );
        }
    }

    fn polyline(&self, svg: &mut String, points: &[(f64, f64)], colour: &str) {
        if points.is_empty() {
            return;
        }
        let mut path = String::new();
        for (x, y) in points {
            write!(path, "{:.1},{:.1} ", self.x(*x), self.y(*y)).expect("write to String");
        }
        push(
            svg,
            format!(
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                path.trim_end()
            ),
        );
    }
}

/// Renders the plot for `series`: load from 0 to `end_s` seconds, the first
/// `warmup_s` shaded. Intervals after `end_s` (the drain) are left out.
pub fn render(series: &[Series], warmup_s: f64, end_s: f64, title: &str) -> String {
    let mut svg = String::new();
    let height = PANEL_HEIGHT * 2.0 + 30.0;
    push(
        &mut svg,
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
        ),
    );
    push(
        &mut svg,
        format!(r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#),
    );
    push(
        &mut svg,
        format!(
            r##"<text x="{}" y="18" font-size="13" text-anchor="middle" fill="#555">{}</text>"##,
            WIDTH / 2.0,
            escape(title)
        ),
    );

    // Throughput over time.
    let x_max = end_s.max(1.0);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().filter(|p| p.elapsed_s <= end_s + 1e-9))
        .map(|p| p.records_per_s)
        .fold(1.0, f64::max);
    let y_max = nice_ceiling(y_max * 1.05);
    let throughput = Panel {
        top: 20.0,
        x_max,
        y_max,
    };
    push(
        &mut svg,
        format!(
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#eee"/>"##,
            throughput.x(0.0),
            throughput.top + MARGIN_TOP,
            throughput.x(warmup_s.min(x_max)) - throughput.x(0.0),
            Panel::plot_height()
        ),
    );
    throughput.frame(
        &mut svg,
        "Throughput (warm-up shaded)",
        "seconds since start",
        "records/s",
    );
    let step = tick_step(x_max);
    let ticks = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|v| *v <= x_max + 1e-9);
    x_ticks(&mut svg, &throughput, ticks.map(|v| (v, format!("{v:.0}"))));
    for (index, one) in series.iter().enumerate() {
        let points: Vec<(f64, f64)> = one
            .points
            .iter()
            .filter(|p| p.elapsed_s <= end_s + 1e-9)
            .map(|p| (p.elapsed_s, p.records_per_s))
            .collect();
        throughput.polyline(&mut svg, &points, COLOURS[index % COLOURS.len()]);
    }
    legend(&mut svg, series, throughput.top);

    // Latency percentile curves.
    let curves: Vec<(usize, Vec<(f64, f64)>)> = series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.all.latency_us.is_empty())
        .map(|(index, s)| (index, percentile_curve(&s.all.latency_us)))
        .collect();
    let y_max = curves
        .iter()
        .flat_map(|(_, curve)| curve.iter().map(|(_, ms)| *ms))
        .fold(0.001, f64::max);
    let y_max = nice_ceiling(y_max * 1.05);
    let latency = Panel {
        top: PANEL_HEIGHT + 30.0,
        x_max: NINES,
        y_max,
    };
    latency.frame(
        &mut svg,
        "Latency by percentile (after warm-up)",
        "percentile",
        "latency ms",
    );
    let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
    x_ticks(
        &mut svg,
        &latency,
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, (*l).to_owned())),
    );
    if curves.is_empty() {
        push(
            &mut svg,
            format!(
                r##"<text x="{}" y="{}" font-size="14" text-anchor="middle" fill="#888">no latency samples</text>"##,
                WIDTH / 2.0,
                latency.top + PANEL_HEIGHT / 2.0
            ),
        );
    }
    for (index, curve) in &curves {
        latency.polyline(&mut svg, curve, COLOURS[index % COLOURS.len()]);
    }
    push(&mut svg, "</svg>".to_owned());
    svg
}

/// `(nines, latency ms)` points: x = -log10(1 - quantile).
pub fn percentile_curve(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    (0..=250)
        .map(|step| {
            let nines = NINES * f64::from(step) / 250.0;
            let quantile = 1.0 - 10f64.powf(-nines);
            (
                nines,
                histogram.value_at_quantile(quantile) as f64 / 1_000.0,
            )
        })
        .collect()
}

/// The smallest of 1, 2, 2.5, 5 × 10^n that is ≥ `value` (> 0), so five
/// equal y ticks are round numbers.
fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// A round tick step (1, 2 or 5 × 10^n seconds) giving at most 10 ticks.
fn tick_step(span: f64) -> f64 {
    let mut magnitude = 1.0;
    loop {
        for step in [1.0, 2.0, 5.0] {
            if span / (step * magnitude) <= 10.0 {
                return step * magnitude;
            }
        }
        magnitude *= 10.0;
    }
}

fn x_ticks(svg: &mut String, panel: &Panel, ticks: impl Iterator<Item = (f64, String)>) {
    let bottom = panel.top + MARGIN_TOP + Panel::plot_height();
    for (value, label) in ticks {
        let x = panel.x(value);
        push(
            svg,
            format!(
                r##"<line x1="{x}" y1="{bottom}" x2="{x}" y2="{}" stroke="#444"/><text x="{x}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 18.0,
                escape(&label)
            ),
        );
    }
}

fn legend(svg: &mut String, series: &[Series], top: f64) {
    for (index, one) in series.iter().enumerate() {
        let x = WIDTH - MARGIN_RIGHT - 110.0 * (series.len() - index) as f64;
        let y = top + 24.0;
        push(
            svg,
            format!(
                r#"<rect x="{x}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{}" font-size="12">{}</text>"#,
                y - 4.0,
                COLOURS[index % COLOURS.len()],
                x + 20.0,
                y,
                escape(one.name)
            ),
        );
    }
}

fn push(svg: &mut String, element: String) {
    svg.push_str(&element);
    svg.push('\n');
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn short_number(value: f64) -> String {
    if value >= 1e9 {
        format!("{:.1}G", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::meter::Meter;
    use std::sync::Arc;

    #[test]
    fn the_plot_is_an_svg_with_both_panels_and_a_curve_per_series() {
        let meter = Arc::new(Meter::default());
        let mut series = Series::new(
            "produce",
            "payload",
            Some("ack"),
            vec![Arc::clone(&meter)],
            false,
        );
        for second in 0..5 {
            meter.update(|tally| {
                tally.records = 1_000 * (second + 1);
                tally.record_latency_us(500 + second * 100);
            });
            series.close_interval(second as f64, second as f64 + 1.0, second >= 1);
        }
        let svg = render(&[series], 1.0, 5.0, "test <run>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("99.99%"));
        assert!(svg.contains("test &lt;run&gt;"));
    }

    #[test]
    fn y_axis_tops_are_round_numbers() {
        assert_eq!(nice_ceiling(0.9), 1.0);
        assert_eq!(nice_ceiling(17.3), 20.0);
        assert_eq!(nice_ceiling(21_000.0), 25_000.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn time_ticks_are_round_numbers() {
        assert_eq!(tick_step(4.0), 1.0);
        assert_eq!(tick_step(35.0), 5.0);
        assert_eq!(tick_step(65.0), 10.0);
        assert_eq!(tick_step(400.0), 50.0);
    }

    #[test]
    fn the_percentile_curve_rises_monotonically() {
        let mut histogram = crate::bench::meter::latency_histogram();
        for us in 1..=100_000 {
            histogram.record(us).unwrap();
        }
        let curve = percentile_curve(&histogram);
        assert!(curve.windows(2).all(|pair| pair[0].1 <= pair[1].1));
        assert!((curve[0].1 - 0.001).abs() < 1e-9);
    }
}
