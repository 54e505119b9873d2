//! The functions' metrics as the local runtime shows them at `GET /_local/metrics`: the
//! same `metrics` calls that write EMF on Lambda, caught by a recorder in this process
//! and added up since it started (every runtime of the process shares it).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use orderflow_shared::edge::metrics as names;
use serde_json::{json, Value};

/// A metric by name and labels.
type Id = (String, BTreeMap<String, String>);

#[derive(Default)]
struct Totals {
    counters: BTreeMap<Id, u64>,
    /// Samples, sum and largest value of each histogram.
    histograms: BTreeMap<Id, (u64, f64, f64)>,
}

static SNAPSHOTTER: OnceLock<Option<Snapshotter>> = OnceLock::new();
static TOTALS: Mutex<Totals> = Mutex::new(Totals { counters: BTreeMap::new(), histograms: BTreeMap::new() });

/// Installs the recorder, once per process; `false` if another recorder was there first.
pub fn install() -> bool {
    let snapshotter = SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().ok().map(|()| snapshotter)
    });
    names::describe();
    snapshotter.is_some()
}

/// Every metric recorded so far, sorted by name and labels:
/// `[{name, labels, value}]` for counters, `[{name, labels, count, sum, max}]` (in the
/// metric's unit, milliseconds for `hop_latency`) for histograms.
pub fn view() -> Value {
    let mut totals = TOTALS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(Some(snapshotter)) = SNAPSHOTTER.get() {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let labels = key.labels().map(|l| (l.key().to_string(), l.value().to_string())).collect();
            let id = (key.name().to_string(), labels);
            match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(n)) => *totals.counters.entry(id).or_default() += n,
                (MetricKind::Histogram, DebugValue::Histogram(values)) => {
                    let entry = totals.histograms.entry(id).or_insert((0, 0.0, 0.0));
                    for v in values {
                        *entry = (entry.0 + 1, entry.1 + v.into_inner(), entry.2.max(v.into_inner()));
                    }
                }
                _ => {}
            }
        }
    }
    let counters =
        totals.counters.iter().map(|((name, labels), value)| json!({"name": name, "labels": labels, "value": value}));
    let histograms = totals.histograms.iter().map(|((name, labels), (count, sum, max))| {
        json!({"name": name, "labels": labels, "count": count, "sum": sum, "max": max})
    });
    Value::Array(counters.chain(histograms).collect())
}
