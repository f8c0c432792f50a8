//! The planner's quality and speed on synthetic suites.
//!
//! Quality: for W = 2, 4, 8, 16 the planned makespan of phase 1 against its
//! lower bound `max(total / W, longest unit)` (target: at most 1.10x).
//! Speed: `plan::build` on a 20,000-test suite.
//!
//! `ISOAUDIT_BENCH_QUALITY_ONLY=1` prints the quality table and skips timing.

use criterion::{black_box, Criterion};
use isoaudit::plan::{self, Classified, Durations, PlanOptions, TestClass};

/// A fixed-seed generator: the same suite on every machine.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// `tests` tests with heavy-tailed durations (most well under a second, a
/// few near a minute), 5% grouped into 25 shared-resource units, 2% in
/// order-risk module units.
fn suite(tests: usize, seed: u64) -> (Vec<Classified>, Durations) {
    let mut rng = Lcg(seed);
    let mut classified = Vec::with_capacity(tests);
    let mut durations = Durations::new();
    for i in 0..tests {
        let nodeid = format!("tests/test_m{:03}.py::test_{i:05}", i % 400);
        let seconds = (0.05 * rng.unit().powf(-1.1)).min(60.0);
        durations.add_case(&nodeid, seconds);
        let pick = rng.unit();
        let (class, unit) = if pick < 0.05 {
            (TestClass::Grouped, format!("res:port:{}", 8000 + (i % 25)))
        } else if pick < 0.07 {
            (
                TestClass::OrderRisk,
                format!("module:tests/test_m{:03}.py", i % 400),
            )
        } else {
            (TestClass::Parallel, format!("test:{nodeid}"))
        };
        classified.push(Classified {
            nodeid,
            class,
            unit,
            resources: Vec::new(),
            codes: Vec::new(),
        });
    }
    (classified, durations)
}

/// `units` whole units of 5-60 s: few, similar-sized units are where list
/// scheduling strays furthest from the bound.
fn coarse(units: usize, seed: u64) -> (Vec<Classified>, Durations) {
    let mut rng = Lcg(seed);
    let mut classified = Vec::new();
    let mut durations = Durations::new();
    for i in 0..units {
        let nodeid = format!("tests/test_c{i:03}.py::test_it");
        durations.add_case(&nodeid, 5.0 + 55.0 * rng.unit());
        classified.push(Classified {
            unit: format!("test:{nodeid}"),
            nodeid,
            class: TestClass::Parallel,
            resources: Vec::new(),
            codes: Vec::new(),
        });
    }
    (classified, durations)
}

fn quality_table() {
    println!("planned makespan vs lower bound (phase 1, LPT), target <= 1.10x");
    println!(
        "{:>9} {:>3} {:>10} {:>10} {:>11} {:>6}",
        "suite", "W", "serial_s", "makespan_s", "lower_bd_s", "ratio"
    );
    let suites = [
        ("tail-200", suite(200, 0x1507_a0d1)),
        ("tail-2k", suite(2_000, 0x1507_a0d1)),
        ("tail-20k", suite(20_000, 0x1507_a0d1)),
        ("coarse-24", coarse(24, 11)),
        ("coarse-60", coarse(60, 12)),
    ];
    let mut worst: f64 = 1.0;
    for (name, (classified, durations)) in suites {
        for workers in [2, 4, 8, 16] {
            let opts = PlanOptions {
                workers,
                heavy_workers: None,
                shards: None,
            };
            let plan = match plan::build(classified.clone(), &durations, &opts) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("plan failed: {e}");
                    std::process::exit(2);
                }
            };
            let p = &plan.phases[0];
            worst = worst.max(p.makespan_seconds / p.lower_bound_seconds);
            println!(
                "{:>9} {:>3} {:>10.1} {:>10.1} {:>11.1} {:>6.3}",
                name,
                workers,
                p.serial_seconds,
                p.makespan_seconds,
                p.lower_bound_seconds,
                p.makespan_seconds / p.lower_bound_seconds
            );
        }
    }
    let verdict = if worst <= 1.10 { "meets" } else { "MISSES" };
    println!("worst ratio {worst:.3}: {verdict} the 1.10x target");
}

fn main() {
    quality_table();
    if std::env::var_os("ISOAUDIT_BENCH_QUALITY_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let (classified, durations) = suite(20_000, 7);
    for workers in [2, 16] {
        let opts = PlanOptions {
            workers,
            heavy_workers: None,
            shards: None,
        };
        c.bench_function(&format!("build 20k tests W={workers}"), |b| {
            b.iter(|| plan::build(black_box(classified.clone()), &durations, &opts))
        });
    }
    c.final_summary();
}
