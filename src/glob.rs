//! Glob patterns for cluster and context names (`production-*`, `*-eu-?`).

/// Glob match with `*` (any run) and `?` (one character), for cluster names.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("production-*", "production-eu-1"));
        assert!(glob_match("*-eu-?", "staging-eu-1"));
        assert!(!glob_match("production-*", "staging-eu-1"));
        assert!(glob_match("hub", "hub"));
        assert!(!glob_match("hub", "hubs"));
    }
}
