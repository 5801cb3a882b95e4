//! Timestamps as the Kubernetes API writes them.

use jiff::Timestamp;

/// `metav1.Time`: RFC 3339 with whole seconds, UTC.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metav1.MicroTime`: RFC 3339 with microseconds, UTC.
pub fn micro_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

pub fn now() -> String {
    rfc3339(Timestamp::now())
}

/// Parses a `metav1.Time` or `MicroTime`.
pub fn parse(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// Go's `duration.HumanDuration`, which kubectl and the API server's tables use for ages.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let days = hours / 24;
        return if h == 0 { format!("{days}d") } else { format!("{days}d{h}h") };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let years = hours / 24 / 365;
        let days = (hours / 24) % 365;
        return if days == 0 { format!("{years}y") } else { format!("{years}y{days}d") };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(20 * 3600), "20h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(30 * 86400), "30d");
    }

    #[test]
    fn formats_round_trip() {
        let ts: Timestamp = "2026-11-24T05:12:03.5Z".parse().unwrap();
        assert_eq!(rfc3339(ts), "2026-11-24T05:12:03Z");
        assert_eq!(micro_time(ts), "2026-11-24T05:12:03.500000Z");
        assert_eq!(parse("2026-11-24T05:12:03Z").map(rfc3339).as_deref(), Some("2026-11-24T05:12:03Z"));
    }
}
