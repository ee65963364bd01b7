use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A node's local clock reading, in nanoseconds. It is what the node believes the time to
/// be: offset and drift make it differ from true time, and it may step backwards.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct LocalTime(pub u64);

impl LocalTime {
    pub fn from_duration(d: Duration) -> Self {
        LocalTime(d.as_nanos() as u64)
    }
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time elapsed since `earlier`, zero if the clock went backwards.
    pub fn since(self, earlier: LocalTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for LocalTime {
    type Output = LocalTime;
    fn add(self, d: Duration) -> LocalTime {
        LocalTime(self.0.saturating_add(d.as_nanos() as u64))
    }
}

impl Sub<Duration> for LocalTime {
    type Output = LocalTime;
    fn sub(self, d: Duration) -> LocalTime {
        LocalTime(self.0.saturating_sub(d.as_nanos() as u64))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}ms", self.0 as f64 / 1e6)
    }
}
