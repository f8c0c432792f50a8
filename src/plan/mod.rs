//! The schedule: per-test classes -> phases and work units, ordered
//! longest-first by duration. Pure data in, data out; runs nothing.

use serde::{Deserialize, Serialize};

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
    pub phases: Vec<PhasePlan>,
    pub estimate: Estimate,
}
