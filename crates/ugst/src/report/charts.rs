//! Grouped bar charts as inline SVG (no script, no external library): one group per column, one
//! bar per run, an optional 95% interval drawn as a whisker.

use std::fmt::Write;

/// Colours of the runs, in order (repeats after eight).
pub const PALETTE: [&str; 8] = [
    "#3b6fb6", "#e0823d", "#4a9c5d", "#c4484e", "#8467b5", "#8c6b4f", "#d17cb8", "#7f7f7f",
];

pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// One bar: value and optional interval, all in 0..=`max`.
#[derive(Debug, Clone, Copy)]
pub struct Bar {
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `groups[g]` holds one bar per series; values are drawn on a 0..`max` axis labelled with
/// `unit` (e.g. `%` with values already in percent).
pub fn grouped_bars(
    title: &str,
    groups: &[String],
    series: &[String],
    bars: &[Vec<Bar>],
    max: f64,
    unit: &str,
) -> String {
    let (left, top, bottom, height) = (44.0, 28.0, 48.0, 220.0);
    let n = series.len().max(1) as f64;
    let bar_w = (60.0 / n).clamp(8.0, 26.0);
    // Wide enough for a group name of about 13 characters per line.
    let group_w = (bar_w * n + 24.0).max(84.0);
    let width = left + group_w * groups.len() as f64 + 16.0;
    let y = |v: f64| top + height - (v.clamp(0.0, max) / max) * height;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {width:.0} {:.0}" width="{width:.0}" height="{:.0}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(title),
        top + height + bottom,
        top + height + bottom
    );
    let _ = write!(
        s,
        r#"<text x="{left}" y="16" class="chart-title">{}</text>"#,
        esc(title)
    );
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{v:.0}{unit}</text>"##,
            width - 8.0,
            left - 4.0,
            yy + 4.0
        );
    }
    for (g, name) in groups.iter().enumerate() {
        let x0 = left + 12.0 + g as f64 * group_w;
        for (i, b) in bars[g].iter().enumerate() {
            let x = x0 + i as f64 * bar_w;
            let Some(v) = b.value else {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">–</text>"#,
                    x + bar_w / 2.0,
                    top + height - 4.0
                );
                continue;
            };
            let tip = match (b.low, b.high) {
                (Some(lo), Some(hi)) => {
                    format!("{}: {v:.1}{unit} [{lo:.1}, {hi:.1}]", series[i])
                }
                _ => format!("{}: {v:.1}{unit}", series[i]),
            };
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
                y(v),
                bar_w - 2.0,
                top + height - y(v),
                colour(i),
                esc(&tip)
            );
            if let (Some(lo), Some(hi)) = (b.low, b.high) {
                let cx = x + (bar_w - 2.0) / 2.0;
                let _ = write!(
                    s,
                    r##"<path d="M{cx:.1} {:.1}V{:.1}M{:.1} {:.1}h6M{:.1} {:.1}h6" stroke="#222" stroke-width="1.2" fill="none"/>"##,
                    y(lo),
                    y(hi),
                    cx - 3.0,
                    y(lo),
                    cx - 3.0,
                    y(hi)
                );
            }
        }
        // Long names go on two lines (split at the middle space).
        let cx = x0 + bar_w * n / 2.0;
        let lines: Vec<String> = match name.len() > 12 {
            true => match name
                .match_indices(' ')
                .min_by_key(|(i, _)| i.abs_diff(name.len() / 2))
            {
                Some((i, _)) => vec![name[..i].to_string(), name[i + 1..].to_string()],
                None => vec![name.clone()],
            },
            false => vec![name.clone()],
        };
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="group">"#,
            top + height + 18.0
        );
        for (k, line) in lines.iter().enumerate() {
            let _ = write!(
                s,
                r#"<tspan x="{cx:.1}" dy="{}">{}</tspan>"#,
                if k == 0 { "0" } else { "1.2em" },
                esc(line)
            );
        }
        s.push_str("</text>");
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_whiskers_and_escaping() {
        let bar = |v: f64| Bar {
            value: Some(v),
            low: Some(v - 10.0),
            high: Some(v + 10.0),
        };
        let svg = grouped_bars(
            "A <b> & c",
            &["Prof.".into(), "Avg".into()],
            &["run<1>".into(), "two".into()],
            &[
                vec![bar(50.0), bar(100.0)],
                vec![
                    bar(20.0),
                    Bar {
                        value: None,
                        low: None,
                        high: None,
                    },
                ],
            ],
            100.0,
            "%",
        );
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains("A &lt;b&gt; &amp; c"));
        assert!(svg.contains("run&lt;1&gt;: 50.0% [40.0, 60.0]"));
        // 100% reaches the top of the plot area (y = 28), 50% its middle.
        assert!(svg.contains(r#"y="28.0" width"#), "{svg}");
        assert!(svg.contains(r#"y="138.0" width"#));
    }
}
