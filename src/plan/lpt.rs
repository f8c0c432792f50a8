//! Longest-processing-time-first list scheduling, the rule both the makespan
//! estimate and the shard split follow. The run's xdist scheduler hands
//! units out in the same order to whichever worker frees up first, so the
//! estimate models what the run does.

/// Makespan of `durations` handed out longest-first to `workers` identical
/// workers, each unit to the least-loaded worker.
pub fn lpt_makespan(durations: &[f64], workers: usize) -> f64 {
    let mut sorted: Vec<f64> = durations.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let loads = assign(sorted.iter().copied(), workers.max(1));
    loads.into_iter().fold(0.0, f64::max)
}

/// Splits `units` across `count` shards longest-first (by `cost`), each
/// unit whole, each to the least-loaded shard. Returns the 0-based shard of
/// each unit, in the order of `units`. Ties go to the lower shard and, among
/// equal costs, to the unit that comes first, so the split is deterministic.
pub fn split_shards<T>(units: &[T], count: usize, cost: impl Fn(&T) -> f64) -> Vec<usize> {
    let count = count.max(1);
    let costs: Vec<f64> = units.iter().map(&cost).collect();
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    let mut loads = vec![0.0_f64; count];
    let mut shard_of = vec![0; units.len()];
    for i in order {
        let target = least_loaded(&loads);
        loads[target] += costs[i];
        shard_of[i] = target;
    }
    shard_of
}

fn assign(durations: impl Iterator<Item = f64>, workers: usize) -> Vec<f64> {
    let mut loads = vec![0.0_f64; workers];
    for d in durations {
        let target = least_loaded(&loads);
        loads[target] += d;
    }
    loads
}

/// Index of the smallest load, the lowest index among equals. A linear scan:
/// worker counts are small, and it keeps ties deterministic without a heap.
fn least_loaded(loads: &[f64]) -> usize {
    let mut best = 0;
    for (i, load) in loads.iter().enumerate().skip(1) {
        if load.total_cmp(&loads[best]).is_lt() {
            best = i;
        }
    }
    best
}
