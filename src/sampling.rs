//! Sampling for events that can come in floods (forward-auth denials): the first of each
//! key in a minute is written, the rest only counted, and at most MAX_KEYS keys a minute
//! are written at all, so a flood cannot fill the disk or hold the write lock.

use std::collections::HashMap;
use std::sync::Mutex;

/// Distinct keys written per minute; past this a minute's denials are only counted.
const MAX_KEYS: usize = 60;

#[derive(Default)]
pub struct Sampler {
    state: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    minute: i64,
    seen: HashMap<String, u64>,
    /// Occurrences not written in the previous minute (reported with the next written one).
    unwritten_before: u64,
    unwritten: u64,
}

impl Sampler {
    /// Whether this occurrence should be written; with it, how many occurrences went
    /// unwritten in the previous minute (so the log says a flood happened).
    pub fn admit(&self, key: &str, now: i64) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now.div_euclid(60);
        if w.minute != minute {
            let carried = w.unwritten;
            *w = Window {
                minute,
                unwritten_before: carried,
                ..Window::default()
            };
        }
        if let Some(n) = w.seen.get_mut(key) {
            *n += 1;
            w.unwritten += 1;
            return None;
        }
        if w.seen.len() >= MAX_KEYS {
            w.unwritten += 1;
            return None;
        }
        w.seen.insert(key.to_string(), 1);
        Some(std::mem::take(&mut w.unwritten_before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_key_and_minute_with_a_bound() {
        let s = Sampler::default();
        assert_eq!(s.admit("a", 60), Some(0));
        assert_eq!(s.admit("a", 61), None);
        assert_eq!(s.admit("b", 62), Some(0));
        for i in 0..100 {
            s.admit(&format!("k{i}"), 63);
        }
        // Next minute: written again, and the flood of the last one is reported.
        let carried = s.admit("a", 120).unwrap();
        assert!(carried > 40, "{carried}");
    }
}
