//! `isoaudit plan` text output: one block per phase, then totals. Owns the
//! layout; the numbers come from the `Plan`.

use std::fmt::Write;

use super::{units_of, Plan};

/// How many units each phase lists.
const LARGEST_UNITS: usize = 5;

fn phase_title(phase: u8, workers: usize) -> String {
    match phase {
        1 if workers > 1 => format!("phase 1  parallel  (pytest -n {workers})"),
        1 => "phase 1  parallel  (one process)".into(),
        2 if workers > 1 => format!("phase 2  heavy  (pytest -n {workers})"),
        2 => "phase 2  heavy  (one process)".into(),
        _ => "phase 3  serial  (one process, not distributed)".into(),
    }
}

/// Renders `plan` for people. Deterministic: same plan, same bytes.
pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    let units = units_of(&plan.tests);
    let unit_count: usize = units.values().map(Vec::len).sum();
    let _ = write!(
        out,
        "isoaudit plan: {} tests in {} units, {} workers",
        plan.tests.len(),
        unit_count,
        plan.workers
    );
    if let Some(shard) = &plan.meta.shard {
        let _ = write!(
            out,
            ", shard {} of {} ({} tests in other shards)",
            shard.index,
            shard.count,
            shard.excluded.len()
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "durations: {} known, {} estimated at {:.2}s each",
        plan.meta.known, plan.meta.estimated, plan.meta.default_seconds
    );

    let mut classes: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in &plan.tests {
        *classes.entry(t.class.as_str()).or_default() += 1;
    }
    if !classes.is_empty() {
        let list: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(out, "classes: {}", list.join(", "));
    }

    for phase in &plan.phases {
        out.push('\n');
        let _ = writeln!(out, "{}", phase_title(phase.phase, phase.workers));
        let _ = writeln!(
            out,
            "  workers {}  units {}  tests {}",
            phase.workers, phase.units, phase.tests
        );
        let _ = writeln!(
            out,
            "  serial {:.2}s  makespan {:.2}s  lower bound {:.2}s",
            phase.serial_seconds, phase.makespan_seconds, phase.lower_bound_seconds
        );
        if let Some(list) = units.get(&phase.phase) {
            let _ = writeln!(out, "  largest units:");
            for unit in list.iter().take(LARGEST_UNITS) {
                let tests = if unit.tests == 1 { "test" } else { "tests" };
                let _ = writeln!(
                    out,
                    "    {:>8.2}s  {}  ({} {})",
                    unit.seconds, unit.name, unit.tests, tests
                );
            }
            if list.len() > LARGEST_UNITS {
                let _ = writeln!(out, "    ... {} more", list.len() - LARGEST_UNITS);
            }
        }
    }

    out.push('\n');
    let serial = plan.estimate.serial_seconds;
    let makespan = plan.estimate.makespan_seconds;
    let _ = writeln!(
        out,
        "total: serial {serial:.2}s, planned makespan {makespan:.2}s"
    );
    if makespan > 0.0 {
        let _ = writeln!(out, "estimated speedup: {:.2}x", serial / makespan);
    } else {
        let _ = writeln!(out, "estimated speedup: n/a (no tests)");
    }
    out
}
