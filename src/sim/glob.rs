//! Scenario faults name clusters by glob: `*` any run of characters, `?` one.

pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer walk with one backtrack point for the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        match p.get(i) {
            Some('?') => (i, j) = (i + 1, j + 1),
            Some('*') => (star, mark, i) = (Some(i), j, i + 1),
            Some(c) if *c == n[j] => (i, j) = (i + 1, j + 1),
            _ => match star {
                Some(s) => (i, mark, j) = (s + 1, mark + 1, mark + 1),
                None => return false,
            },
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("production-*", "production-eu-1"));
        assert!(glob_match("*-eu-?", "staging-eu-1"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("production-*", "staging-eu-1"));
        assert!(!glob_match("hub", "hubs"));
        assert!(glob_match("a*b*c", "axxbyyc") && !glob_match("a*b*c", "axxbyy"));
    }
}
