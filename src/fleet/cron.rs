//! Velero's schedule syntax: five-field cron, the `@daily`-style descriptors, and
//! `@every <duration>`, evaluated in UTC as Velero does. The simulator fires schedules by
//! it; the backups pane judges each schedule's RPO by it.

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

#[derive(Debug, Clone)]
pub enum Schedule {
    Cron(Box<Cron>),
    Every(Duration),
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Some(every) = text.strip_prefix("@every") {
            let d =
                humantime::parse_duration(every.trim()).map_err(|e| eyre!("invalid @every duration {every:?}: {e}"))?;
            if d.is_zero() {
                return Err(eyre!("@every needs a positive duration"));
            }
            return Ok(Self::Every(d));
        }
        let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
        let cron = parser.parse(text).map_err(|e| eyre!("invalid cron expression {text:?}: {e}"))?;
        Ok(Self::Cron(Box::new(cron)))
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(d) => after.checked_add(jiff::SignedDuration::try_from(*d).ok()?).ok(),
            Self::Cron(cron) => {
                let zoned = after.to_zoned(TimeZone::UTC);
                cron.find_next_occurrence(&zoned, false).ok().map(|z| z.timestamp())
            }
        }
    }

    /// The last run strictly before `before`.
    pub fn prev_before(&self, before: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(d) => before.checked_sub(jiff::SignedDuration::try_from(*d).ok()?).ok(),
            Self::Cron(cron) => {
                let zoned = before.to_zoned(TimeZone::UTC);
                cron.find_previous_occurrence(&zoned, false).ok().map(|z| z.timestamp())
            }
        }
    }

    /// The nominal interval between runs, measured between the two runs after `at`.
    pub fn interval(&self, at: Timestamp) -> Option<Duration> {
        let first = self.next_after(at)?;
        let second = self.next_after(first)?;
        Duration::try_from(second.duration_since(first)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crons_and_descriptors() {
        let at: Timestamp = "2026-11-24T05:12:00Z".parse().unwrap();
        let daily = Schedule::parse("0 1 * * *").unwrap();
        assert_eq!(daily.next_after(at).unwrap().to_string(), "2026-11-25T01:00:00Z");
        assert_eq!(daily.interval(at), Some(Duration::from_secs(86400)));
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(hourly.next_after(at).unwrap().to_string(), "2026-11-24T06:00:00Z");
        let every = Schedule::parse("@every 90m").unwrap();
        assert_eq!(every.interval(at), Some(Duration::from_secs(5400)));
        assert!(Schedule::parse("0 0 1 * * *").is_err(), "six fields are not Velero syntax");
        assert!(Schedule::parse("nonsense").is_err());
    }
}
