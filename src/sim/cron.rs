//! When simulated Velero schedules fire: five-field cron, the `@daily`-style
//! descriptors and `@every <duration>`, in UTC. Evaluated with croner on its own, apart
//! from fleetdeck's RPO judge, so a test of one checks the other.

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};

#[derive(Debug, Clone)]
pub enum Schedule {
    Calendar(Box<Cron>),
    Every(SignedDuration),
}

impl Schedule {
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        match spec.strip_prefix("@every") {
            Some(every) => {
                let d: Duration =
                    humantime::parse_duration(every.trim()).map_err(|e| eyre!("@every {every:?}: {e}"))?;
                let d = SignedDuration::try_from(d).map_err(|e| eyre!("@every {every:?}: {e}"))?;
                if d.is_zero() {
                    return Err(eyre!("@every needs a positive duration"));
                }
                Ok(Self::Every(d))
            }
            None => CronParser::builder()
                .seconds(Seconds::Disallowed)
                .build()
                .parse(spec)
                .map(|c| Self::Calendar(Box::new(c)))
                .map_err(|e| eyre!("cron {spec:?}: {e}")),
        }
    }

    /// The first firing strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(d) => t.checked_add(*d).ok(),
            Self::Calendar(c) => c.find_next_occurrence(&t.to_zoned(TimeZone::UTC), false).ok().map(|z| z.timestamp()),
        }
    }

    /// The last firing strictly before `t`.
    pub fn prev_before(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(d) => t.checked_sub(*d).ok(),
            Self::Calendar(c) => {
                c.find_previous_occurrence(&t.to_zoned(TimeZone::UTC), false).ok().map(|z| z.timestamp())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firings_in_utc() {
        let at: Timestamp = "2026-11-24T05:12:00Z".parse().unwrap();
        let daily = Schedule::parse("0 1 * * *").unwrap();
        assert_eq!(daily.next_after(at).unwrap().to_string(), "2026-11-25T01:00:00Z");
        assert_eq!(daily.prev_before(at).unwrap().to_string(), "2026-11-24T01:00:00Z");
        assert_eq!(Schedule::parse("@hourly").unwrap().next_after(at).unwrap().to_string(), "2026-11-24T06:00:00Z");
        assert_eq!(Schedule::parse("@every 5m").unwrap().next_after(at).unwrap().to_string(), "2026-11-24T05:17:00Z");
        assert!(Schedule::parse("0 0 1 * * *").is_err() && Schedule::parse("@every 0s").is_err());
    }
}
