//! The timeline of one `isoaudit run` as a Mermaid gantt chart for
//! `reports/ci_timings.md`: one bar per phase, then each worker's units
//! over time, from the start times the plugin records in the junit XML.
//!
//! Kept readable rather than complete: at most [`MAX_WORKERS`] worker rows
//! per phase and [`MAX_BARS`] bars per worker (the longest); what is left
//! out is counted under the chart. Owns the layout only.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Worker rows drawn per phase.
pub const MAX_WORKERS: usize = 8;
/// Bars drawn per worker row.
pub const MAX_BARS: usize = 12;

/// One pytest invocation on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseTimeline {
    pub label: String,
    /// Seconds since the epoch.
    pub start: f64,
    pub wall: f64,
    pub bars: Vec<Bar>,
}

/// A unit (or the run of its tests one worker took) on one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub worker: String,
    pub unit: String,
    /// Seconds since the epoch.
    pub start: f64,
    pub end: f64,
    pub tests: usize,
}

/// Folds each worker's consecutive tests of one unit into one bar.
/// `cases` are (worker, unit, start, seconds), in any order.
pub fn bars(cases: &[(String, String, f64, f64)]) -> Vec<Bar> {
    let mut by_worker: BTreeMap<&str, Vec<&(String, String, f64, f64)>> = BTreeMap::new();
    for c in cases {
        by_worker.entry(&c.0).or_default().push(c);
    }
    let mut out = Vec::new();
    for (worker, mut list) in by_worker {
        list.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)));
        let mut current: Option<Bar> = None;
        for (_, unit, start, secs) in list {
            let end = start + secs.max(0.0);
            match current.as_mut() {
                Some(bar) if bar.unit == *unit => {
                    bar.end = bar.end.max(end);
                    bar.tests += 1;
                }
                _ => {
                    out.extend(current.take());
                    current = Some(Bar {
                        worker: worker.to_string(),
                        unit: unit.clone(),
                        start: *start,
                        end,
                        tests: 1,
                    });
                }
            }
        }
        out.extend(current);
    }
    out
}

/// Text safe inside a gantt task or section name: `:` ends a task's name,
/// `#` and `;` start entities and statements, so each becomes a look-alike
/// that Mermaid does not parse.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            ':' => out.push('\u{2236}'),
            '#' => out.push('\u{266f}'),
            ';' => out.push('\u{037e}'),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    let trimmed = out.trim();
    if trimmed.is_empty() {
        "(unnamed)".into()
    } else {
        trimmed.to_string()
    }
}

/// A unit's name as a bar shows it: a test's function name, a group's key.
fn unit_name(unit: &str, tests: usize) -> String {
    let name = match unit.strip_prefix("test:") {
        Some(nodeid) => nodeid.rsplit("::").next().unwrap_or(nodeid).to_string(),
        None => unit.to_string(),
    };
    if tests > 1 {
        format!("{name} ({tests} tests)")
    } else {
        name
    }
}

/// Milliseconds from the run's start, never negative.
fn ms(t: f64, origin: f64) -> u64 {
    ((t - origin).max(0.0) * 1000.0).round() as u64
}

/// The chart (a fenced `mermaid` block) and the sentence that counts what
/// it leaves out; empty when no phase ran.
pub fn render(phases: &[PhaseTimeline]) -> String {
    let Some(origin) = phases.iter().map(|p| p.start).min_by(|a, b| a.total_cmp(b)) else {
        return String::new();
    };
    let mut out = String::new();
    out.push_str("```mermaid\n---\ndisplayMode: compact\n---\ngantt\n");
    out.push_str("  dateFormat x\n  axisFormat %M:%S\n");
    out.push_str("  section Phases\n");
    for (i, p) in phases.iter().enumerate() {
        let start = ms(p.start, origin);
        let end = start + ((p.wall.max(0.0) * 1000.0).round() as u64).max(1);
        let _ = writeln!(out, "  {} :p{i}, {start}, {end}", text(&p.label));
    }
    let mut hidden_workers = 0;
    let mut hidden_bars = 0;
    for p in phases {
        let mut by_worker: BTreeMap<&str, Vec<&Bar>> = BTreeMap::new();
        for b in &p.bars {
            by_worker.entry(&b.worker).or_default().push(b);
        }
        let mut workers: Vec<(&str, Vec<&Bar>)> = by_worker.into_iter().collect();
        // The busiest workers first; ties by name.
        let busy = |bars: &[&Bar]| bars.iter().map(|b| b.end - b.start).sum::<f64>();
        workers.sort_by(|a, b| busy(&b.1).total_cmp(&busy(&a.1)).then(a.0.cmp(b.0)));
        hidden_workers += workers.len().saturating_sub(MAX_WORKERS);
        workers.truncate(MAX_WORKERS);
        workers.sort_by(|a, b| a.0.cmp(b.0));
        for (worker, mut bars) in workers {
            let _ = writeln!(out, "  section {} {}", text(&p.label), text(worker));
            bars.sort_by(|a, b| (b.end - b.start).total_cmp(&(a.end - a.start)));
            hidden_bars += bars.len().saturating_sub(MAX_BARS);
            bars.truncate(MAX_BARS);
            bars.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.unit.cmp(&b.unit)));
            for b in bars {
                let start = ms(b.start, origin);
                let end = ms(b.end, origin).max(start + 1);
                let _ = writeln!(
                    out,
                    "  {} :{start}, {end}",
                    text(&unit_name(&b.unit, b.tests))
                );
            }
        }
    }
    out.push_str("```\n");
    let mut left_out = Vec::new();
    if hidden_workers > 0 {
        left_out.push(format!(
            "{hidden_workers} less busy worker row{}",
            if hidden_workers == 1 { "" } else { "s" }
        ));
    }
    if hidden_bars > 0 {
        left_out.push(format!(
            "{hidden_bars} shorter unit{}",
            if hidden_bars == 1 { "" } else { "s" }
        ));
    }
    if !left_out.is_empty() {
        let _ = writeln!(out, "\nNot drawn: {}.", left_out.join(" and "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(worker: &str, unit: &str, start: f64, secs: f64) -> (String, String, f64, f64) {
        (worker.into(), unit.into(), start, secs)
    }

    /// The task lines of a chart: `name :meta`.
    fn tasks(chart: &str) -> Vec<&str> {
        chart
            .lines()
            .filter(|l| l.starts_with("  ") && l.contains(" :"))
            .collect()
    }

    /// What a Mermaid gantt needs to parse: the header, one `:` per task
    /// line, numeric start < end, names free of the characters it parses.
    fn assert_well_formed(chart: &str) {
        let body = chart
            .strip_prefix("```mermaid\n---\ndisplayMode: compact\n---\ngantt\n")
            .unwrap_or_else(|| panic!("header: {chart}"));
        let (body, _) = body.split_once("```\n").expect("closing fence");
        for line in body.lines() {
            let line = line.strip_prefix("  ").expect("indented");
            if line.starts_with("dateFormat ") || line.starts_with("axisFormat ") {
                continue;
            }
            if let Some(name) = line.strip_prefix("section ") {
                assert!(!name.contains([':', '#', ';']), "{line}");
                continue;
            }
            let (name, meta) = line.split_once(" :").unwrap_or_else(|| panic!("{line}"));
            assert!(
                !name.contains([':', '#', ';']) && !name.is_empty(),
                "{line}"
            );
            let nums: Vec<u64> = meta.split(", ").filter_map(|p| p.parse().ok()).collect();
            assert_eq!(nums.len(), 2, "{line}");
            assert!(nums[0] < nums[1], "{line}");
        }
    }

    #[test]
    fn consecutive_tests_of_a_unit_are_one_bar() {
        let b = bars(&[
            case("gw0", "group:env:MODE", 10.0, 1.0),
            case("gw0", "group:env:MODE", 11.0, 2.0),
            case("gw0", "test:t.py::test_a", 13.0, 0.5),
            case("gw1", "group:env:MODE", 10.5, 1.0),
        ]);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].start, b[0].end, b[0].tests), (10.0, 13.0, 2));
        assert_eq!(b[1].unit, "test:t.py::test_a");
        assert_eq!(b[2].worker, "gw1");
    }

    #[test]
    fn the_chart_is_well_formed_and_escapes_names() {
        let phases = vec![
            PhaseTimeline {
                label: "1 parallel".into(),
                start: 100.0,
                wall: 4.0,
                bars: bars(&[
                    case("gw0", "test:tests/a.py::test_x[a:b#c;d]", 100.2, 1.0),
                    case("gw1", "path:/tmp/x", 100.3, 2.5),
                    case("gw1", "path:/tmp/x", 102.8, 0.0),
                ]),
            },
            PhaseTimeline {
                label: "3 serial".into(),
                start: 104.5,
                wall: 0.0,
                bars: Vec::new(),
            },
        ];
        let chart = render(&phases);
        assert_well_formed(&chart);
        let t = tasks(&chart);
        assert_eq!(t[0], "  1 parallel :p0, 0, 4000");
        assert_eq!(t[1], "  3 serial :p1, 4500, 4501");
        assert!(
            chart.contains("  test_x[a\u{2236}b\u{266f}c\u{037e}d] :200, 1200\n"),
            "{chart}"
        );
        assert!(
            chart.contains("  path\u{2236}/tmp/x (2 tests) :300, 2800\n"),
            "{chart}"
        );
        assert!(chart.contains("  section 1 parallel gw1\n"), "{chart}");
        assert!(!chart.contains("Not drawn"), "{chart}");
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn only_the_busiest_workers_and_longest_units_are_drawn() {
        let mut cases = Vec::new();
        for w in 0..(MAX_WORKERS + 3) {
            for u in 0..(MAX_BARS + 2) {
                let secs = if w == 0 { 5.0 } else { 1.0 };
                cases.push(case(
                    &format!("gw{w}"),
                    &format!("test:t.py::test_{u}"),
                    u as f64 * 10.0,
                    secs + u as f64 * 0.01,
                ));
            }
        }
        let phases = vec![PhaseTimeline {
            label: "1 parallel".into(),
            start: 0.0,
            wall: 200.0,
            bars: bars(&cases),
        }];
        let chart = render(&phases);
        assert_well_formed(&chart);
        let sections = chart
            .lines()
            .filter(|l| l.starts_with("  section 1"))
            .count();
        assert_eq!(sections, MAX_WORKERS);
        assert!(
            chart.contains("section 1 parallel gw0\n"),
            "the busiest: {chart}"
        );
        assert_eq!(tasks(&chart).len(), 1 + MAX_WORKERS * MAX_BARS);
        // The shortest two of each drawn worker are left out.
        assert!(!chart.contains("  test_0 :"), "{chart}");
        assert!(chart.contains("  test_13 :"), "{chart}");
        assert!(
            chart.ends_with(&format!(
                "\nNot drawn: 3 less busy worker rows and {} shorter units.\n",
                MAX_WORKERS * 2
            )),
            "{chart}"
        );
    }
}
