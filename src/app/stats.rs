//! CPU and memory of the serving containers in view, from the Docker stats
//! stream: the runner reads only the containers the hosts view shows (the
//! set is sent again whenever it changes, and emptied when the view
//! closes); each keeps a short history for its sparkline.

use std::collections::{BTreeMap, VecDeque};

/// Samples kept per container (about one a second).
pub const HISTORY: usize = 30;

/// One reading of a container.
pub use crate::engine::stats::Usage as Sample;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// The containers whose stats are read now: (host, container id).
    pub watching: Vec<(String, String)>,
    pub series: BTreeMap<String, VecDeque<Sample>>,
}

impl Stats {
    pub fn push(&mut self, id: &str, s: Sample) {
        let q = self.series.entry(id.to_string()).or_default();
        if q.len() >= HISTORY {
            q.pop_front();
        }
        q.push_back(s);
    }

    /// Forget the series of containers no longer watched.
    pub fn keep_watched(&mut self) {
        let ids: Vec<&String> = self.watching.iter().map(|(_, id)| id).collect();
        self.series.retain(|id, _| ids.contains(&id));
    }

    pub fn last(&self, id: &str) -> Option<&Sample> {
        self.series.get(id).and_then(|q| q.back())
    }
}

/// Bars of a sparkline, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` values as bars, scaled to `max` (at least the largest
/// value); padded on the left with spaces when there are fewer.
pub fn sparkline(values: impl Iterator<Item = f64>, width: usize, max: f64) -> String {
    let v: Vec<f64> = values.collect();
    let tail = &v[v.len().saturating_sub(width)..];
    let top = tail.iter().copied().fold(max, f64::max).max(f64::EPSILON);
    let mut s: String = " ".repeat(width - tail.len());
    for x in tail {
        let i = ((x / top) * 7.0).round().clamp(0.0, 7.0) as usize;
        s.push(BARS[i]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_to_its_maximum_and_pads_when_short() {
        assert_eq!(sparkline([0.0, 50.0, 100.0].into_iter(), 5, 100.0), "  ▁▅█");
        // A value above the scale raises it.
        assert_eq!(sparkline([100.0, 200.0].into_iter(), 2, 100.0), "▅█");
        assert_eq!(sparkline(std::iter::empty(), 3, 1.0), "   ");
    }

    #[test]
    fn the_history_is_bounded_and_unwatched_series_go() {
        let mut s = Stats::default();
        for i in 0..100 {
            s.push(
                "a",
                Sample {
                    cpu: f64::from(i),
                    mem: 1,
                    limit: 2,
                },
            );
        }
        assert_eq!(s.series["a"].len(), HISTORY);
        assert_eq!(s.last("a").map(|x| x.cpu), Some(99.0));
        s.keep_watched();
        assert!(s.series.is_empty());
    }
}
