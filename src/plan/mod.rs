//! The schedule: per-test classes -> phases and work units, ordered
//! longest-first by duration. Pure data in, data out; runs nothing and reads
//! no file except through [`durations`].
//!
//! `Plan` is the versioned JSON of `isoaudit plan --format json`; fields that
//! are not part of that schema are `#[serde(skip)]`.

pub mod durations;
mod lpt;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use durations::Durations;
pub use lpt::{lpt_makespan, split_shards};
pub use text::render_text;

/// A test's class, the scheduler's input (DESIGN.md "Classification").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestClass {
    Parallel,
    Grouped,
    OrderRisk,
    Heavy,
    Serial,
}

impl TestClass {
    pub fn as_str(self) -> &'static str {
        match self {
            TestClass::Parallel => "parallel",
            TestClass::Grouped => "grouped",
            TestClass::OrderRisk => "order-risk",
            TestClass::Heavy => "heavy",
            TestClass::Serial => "serial",
        }
    }

    pub fn phase(self) -> u8 {
        match self {
            TestClass::Parallel | TestClass::Grouped | TestClass::OrderRisk => 1,
            TestClass::Heavy => 2,
            TestClass::Serial => 3,
        }
    }
}

/// One classified test function: what the analysis hands the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Function-level nodeid, no `[params]`.
    pub nodeid: String,
    pub class: TestClass,
    /// `test:<nodeid>`, `res:<key>`, `order:<key>`, `module:<path>`,
    /// `heavy:<nodeid>` or `serial:<nodeid>`.
    pub unit: String,
    pub resources: Vec<String>,
    pub codes: Vec<String>,
}

/// One test function in the plan (parametrized cases share it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanTest {
    pub nodeid: String,
    pub class: TestClass,
    /// Work unit: `test:<nodeid>`, `res:<key>`, `order:<key>` or `module:<path>`.
    pub unit: String,
    pub phase: u8,
    pub resources: Vec<String>,
    pub codes: Vec<String>,
    pub duration: f64,
    /// Facts earlier runs observed (`.isoaudit/observed.json`): the key,
    /// how it was touched and the first frame in the project's code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<ObservedFact>,
    /// A remembered isolation bug: the test runs with these tests (none:
    /// in the serial phase) until its file changes or `run --forget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Vec<String>>,
}

/// One observed fact of a planned test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedFact {
    pub key: String,
    pub access: String,
    /// `path:line`, or "" when seen by comparing before and after the test.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhasePlan {
    pub phase: u8,
    pub workers: usize,
    pub units: usize,
    pub tests: usize,
    pub serial_seconds: f64,
    pub makespan_seconds: f64,
    pub lower_bound_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub serial_seconds: f64,
    pub makespan_seconds: f64,
}

/// `isoaudit plan --format json`, version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub workers: usize,
    pub tests: Vec<PlanTest>,
    /// Only phases that have tests, in phase order.
    pub phases: Vec<PhasePlan>,
    pub estimate: Estimate,
    /// How the durations were obtained, and the shard; not in the JSON schema.
    #[serde(skip)]
    pub meta: PlanMeta,
}

/// What `build` knew and decided beyond the JSON schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanMeta {
    /// Tests whose duration came from the durations source.
    pub known: usize,
    /// Tests that were given `default_seconds`.
    pub estimated: usize,
    /// The median of the known durations (1.0 when none is known).
    pub default_seconds: f64,
    pub shard: Option<ShardInfo>,
}

/// The shard this plan covers and the tests planned for the other shards,
/// which a run of this shard must not pick up as "unknown".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShardInfo {
    pub count: usize,
    /// 1-based.
    pub index: usize,
    /// Function nodeids planned for other shards, sorted.
    pub excluded: Vec<String>,
}

/// Knobs of `build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// W, the workers of phase 1 (1 = one serial run).
    pub workers: usize,
    /// H, the workers of phase 2; `None` = `min(2, W)`.
    pub heavy_workers: Option<usize>,
    /// `(K, I)`: plan only shard I (1-based) of K.
    pub shards: Option<(usize, usize)>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            workers: 1,
            heavy_workers: None,
            shards: None,
        }
    }
}

impl PlanOptions {
    pub fn heavy(&self) -> usize {
        self.heavy_workers
            .unwrap_or_else(|| self.workers.min(2))
            .max(1)
    }

    /// Workers of a phase under these options.
    pub fn phase_workers(&self, phase: u8) -> usize {
        match phase {
            1 => self.workers.max(1),
            2 => self.heavy(),
            _ => 1,
        }
    }
}

impl PlanOptions {
    /// The options of `plan` and `run`: the command line (`--workers`, which
    /// clap also fills from `PYTEST_WORKERS`) wins over
    /// `[tool.isoaudit.scheduler]`; workers default to the CPU count.
    pub fn from_args(
        args: &crate::cli::ScheduleArgs,
        settings: &crate::config::SchedulerSettings,
    ) -> Result<Self, PlanError> {
        let workers = match &args.workers {
            Some(value) => parse_workers(value)?,
            None => match settings.workers {
                Some(0) => return Err(PlanError::BadWorkers("0".into())),
                Some(n) => n,
                None => parse_workers("auto")?,
            },
        };
        let heavy_workers = args.heavy_workers.or(settings.heavy_workers);
        if heavy_workers == Some(0) {
            return Err(PlanError::BadHeavyWorkers);
        }
        let shards = match (args.shards, args.shard) {
            (Some(count), Some(index)) => Some((count, index)),
            _ => None,
        };
        Ok(PlanOptions {
            workers,
            heavy_workers,
            shards,
        })
    }
}

/// The durations file `--durations` or the config names, if any; without
/// one, [`Durations::load_default`] looks under the root.
pub fn durations_file<'a>(
    args: &'a crate::cli::ScheduleArgs,
    settings: &'a crate::config::SchedulerSettings,
) -> Option<&'a std::path::Path> {
    args.durations.as_deref().or(settings.durations.as_deref())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("workers must be `auto` or a whole number of at least 1, got `{0}`")]
    BadWorkers(String),
    #[error("--shards must be at least 1, got {0}")]
    BadShardCount(usize),
    #[error("--shard must be between 1 and {count}, got {index}")]
    BadShardIndex { count: usize, index: usize },
    #[error("heavy workers must be at least 1")]
    BadHeavyWorkers,
    #[error("test `{0}` is classified twice")]
    DuplicateTest(String),
}

/// Parses `auto` / `N` (the `--workers` option and `PYTEST_WORKERS`).
/// `auto` is the number of CPUs this process may use.
pub fn parse_workers(value: &str) -> Result<usize, PlanError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("auto") {
        return Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1));
    }
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(PlanError::BadWorkers(value.to_string())),
    }
}

/// `tests/a.py::TestX::test_y[1-2]` -> `tests/a.py::TestX::test_y`.
///
/// The suffix starts at the first `[` after the path: a parameter id may
/// itself hold `::` or `[`, a test name never does.
pub fn function_nodeid(nodeid: &str) -> &str {
    let Some(sep) = nodeid.find("::") else {
        return nodeid;
    };
    match nodeid[sep..].find('[') {
        Some(open) => &nodeid[..sep + open],
        None => nodeid,
    }
}

/// Rounds to the millisecond so that the JSON holds no float noise.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A unit of work within one phase, as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub phase: u8,
    pub name: String,
    pub seconds: f64,
    pub tests: usize,
}

/// The units of `tests`, phase by phase, each phase's units sorted
/// longest-first (ties by name).
pub fn units_of(tests: &[PlanTest]) -> BTreeMap<u8, Vec<Unit>> {
    let mut by_key: BTreeMap<(u8, &str), (f64, usize)> = BTreeMap::new();
    for t in tests {
        let e = by_key.entry((t.phase, t.unit.as_str())).or_default();
        e.0 += t.duration;
        e.1 += 1;
    }
    let mut phases: BTreeMap<u8, Vec<Unit>> = BTreeMap::new();
    for ((phase, name), (seconds, count)) in by_key {
        phases.entry(phase).or_default().push(Unit {
            phase,
            name: name.to_string(),
            seconds,
            tests: count,
        });
    }
    for units in phases.values_mut() {
        sort_longest_first(units);
    }
    phases
}

fn sort_longest_first(units: &mut [Unit]) {
    units.sort_by(|a, b| {
        b.seconds
            .total_cmp(&a.seconds)
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// Turns classified tests into the plan: phases, units, durations and the
/// makespan estimates at `opts.workers`.
pub fn build(
    tests: Vec<Classified>,
    durations: &Durations,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    if opts.workers == 0 {
        return Err(PlanError::BadWorkers("0".into()));
    }
    if opts.heavy_workers == Some(0) {
        return Err(PlanError::BadHeavyWorkers);
    }
    if let Some((count, index)) = opts.shards {
        if count == 0 {
            return Err(PlanError::BadShardCount(count));
        }
        if index == 0 || index > count {
            return Err(PlanError::BadShardIndex { count, index });
        }
    }

    let mut tests = tests;
    tests.sort_by(|a, b| a.nodeid.cmp(&b.nodeid));
    if let Some(pair) = tests.windows(2).find(|w| w[0].nodeid == w[1].nodeid) {
        return Err(PlanError::DuplicateTest(pair[0].nodeid.clone()));
    }

    let found: Vec<Option<f64>> = tests.iter().map(|t| durations.get(&t.nodeid)).collect();
    let mut known: Vec<f64> = found.iter().flatten().copied().collect();
    let default_seconds = round3(median(&mut known).unwrap_or(1.0));

    let mut planned: Vec<PlanTest> = tests
        .into_iter()
        .zip(&found)
        .map(|(c, d)| {
            let mut resources = c.resources;
            resources.sort();
            resources.dedup();
            let mut codes = c.codes;
            codes.sort();
            codes.dedup();
            PlanTest {
                phase: c.class.phase(),
                nodeid: c.nodeid,
                class: c.class,
                unit: c.unit,
                resources,
                codes,
                duration: round3(d.unwrap_or(default_seconds)),
                observed: Vec::new(),
                triage: None,
            }
        })
        .collect();
    let mut meta = PlanMeta {
        known: found.iter().filter(|d| d.is_some()).count(),
        estimated: found.iter().filter(|d| d.is_none()).count(),
        default_seconds,
        shard: None,
    };

    if let Some((count, index)) = opts.shards {
        let units: Vec<Unit> = units_of(&planned).into_values().flatten().collect();
        let assignment = split_shards(&units, count, |u| {
            u.seconds / opts.phase_workers(u.phase) as f64
        });
        let mine: std::collections::BTreeSet<(u8, &str)> = units
            .iter()
            .zip(&assignment)
            .filter(|(_, shard)| **shard == index - 1)
            .map(|(u, _)| (u.phase, u.name.as_str()))
            .collect();
        let (keep, other): (Vec<PlanTest>, Vec<PlanTest>) = planned
            .into_iter()
            .partition(|t| mine.contains(&(t.phase, t.unit.as_str())));
        meta.shard = Some(ShardInfo {
            count,
            index,
            excluded: other.into_iter().map(|t| t.nodeid).collect(),
        });
        planned = keep;
    }

    let mut phases = Vec::new();
    for (phase, units) in units_of(&planned) {
        let workers = opts.phase_workers(phase);
        let durations: Vec<f64> = units.iter().map(|u| u.seconds).collect();
        let total: f64 = durations.iter().sum();
        let longest = durations.first().copied().unwrap_or(0.0);
        let (makespan, lower_bound) = if workers == 1 {
            (total, total)
        } else {
            (
                lpt_makespan(&durations, workers),
                (total / workers as f64).max(longest),
            )
        };
        phases.push(PhasePlan {
            phase,
            workers,
            units: units.len(),
            tests: units.iter().map(|u| u.tests).sum(),
            serial_seconds: round3(total),
            makespan_seconds: round3(makespan),
            lower_bound_seconds: round3(lower_bound),
        });
    }
    let estimate = Estimate {
        serial_seconds: round3(planned.iter().map(|t| t.duration).sum()),
        makespan_seconds: round3(phases.iter().map(|p| p.makespan_seconds).sum()),
    };
    Ok(Plan {
        version: 1,
        workers: opts.workers,
        tests: planned,
        phases,
        estimate,
        meta,
    })
}

/// Median of `values` (sorted in place); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests;
