//! The suite model: what pytest would collect from each module (tests,
//! fixtures, markers, requests), extracted from isoaudit's IR. Knows pytest's
//! collection rules; knows nothing about hazards.

pub mod builtins;
pub mod collect;
pub mod imports;
mod model;

pub use model::*;
