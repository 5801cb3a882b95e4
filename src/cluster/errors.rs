//! kube errors classified into what an operator acts on, with a short message.

use crate::fleet::failure::Failure;

/// Walks an error's sources for the I/O, TLS or timeout cause, with a short message.
fn cause(err: &(dyn std::error::Error + 'static)) -> Option<(Failure, String)> {
    let mut current = Some(err);
    while let Some(e) = current {
        // h2 keeps the I/O error it ended with, but not as its source.
        let io =
            e.downcast_ref::<std::io::Error>().or_else(|| e.downcast_ref::<h2::Error>().and_then(h2::Error::get_io));
        if let Some(io) = io {
            use std::io::ErrorKind as K;
            let (failure, text) = match io.kind() {
                K::TimedOut => (Failure::Timeout, "timed out".to_owned()),
                K::ConnectionRefused => (Failure::Unreachable, "connection refused".to_owned()),
                K::ConnectionReset => (Failure::Unreachable, "connection reset".to_owned()),
                K::ConnectionAborted => (Failure::Unreachable, "connection aborted".to_owned()),
                K::NotFound => (Failure::Unreachable, "host not found".to_owned()),
                K::HostUnreachable | K::NetworkUnreachable => (Failure::Unreachable, "host unreachable".to_owned()),
                _ => match io.get_ref().and_then(|inner| rustls_in(inner)) {
                    Some(tls) => (Failure::Unreachable, tls_words(tls)),
                    None => (Failure::Unreachable, io.to_string()),
                },
            };
            return Some((failure, text));
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some((Failure::Unreachable, tls_words(tls)));
        }
        if let Some(http) = e.downcast_ref::<hyper::Error>()
            && http.is_parse()
        {
            return Some((Failure::Other, not_an_api(&format!("something that is not HTTP ({http})"))));
        }
        if e.downcast_ref::<tokio::time::error::Elapsed>().is_some() {
            return Some((Failure::Timeout, "timed out".to_owned()));
        }
        let text = e.to_string();
        if text.contains("timed out") || text.contains("deadline") {
            return Some((Failure::Timeout, "timed out".to_owned()));
        }
        current = e.source();
    }
    None
}

/// A TLS error in an error's chain, the error itself included. An I/O error wrapping
/// another is stepped into (its `source` skips the wrapped error itself).
fn rustls_in<'a>(err: &'a (dyn std::error::Error + Send + Sync + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    None
}

/// Foreign words (a plugin's stderr, what a server answered) as one line of at most
/// `max` characters: lines joined with " / ", runs of spaces as one, cut with "…".
pub fn one_line(text: &str, max: usize) -> String {
    let lines: Vec<String> =
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect();
    let joined = lines.join(" / ");
    if joined.chars().count() <= max {
        return joined;
    }
    joined.chars().take(max.saturating_sub(1)).chain(['…']).collect()
}

/// What a server that is no Kubernetes API server is said to be.
pub fn not_an_api(answered: &str) -> String {
    format!("not a Kubernetes API server (answered with {answered})")
}

/// A TLS failure in words an operator acts on.
fn tls_words(e: &rustls::Error) -> String {
    use rustls::{CertificateError as C, Error as E};
    match e {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "TLS: the server's certificate is not signed by the CA in the kubeconfig".to_owned()
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "TLS: the server's certificate is not for the server's name in the kubeconfig".to_owned()
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "TLS: the server's certificate has expired".to_owned()
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            format!("TLS: the server does not speak TLS ({e})")
        }
        other => format!("TLS: {other}"),
    }
}

/// The failure class of an HTTP status code.
pub fn from_status(code: u16) -> Failure {
    match code {
        401 => Failure::Unauthorized,
        403 => Failure::Forbidden,
        404 => Failure::NotFound,
        410 => Failure::Gone,
        500..=599 => Failure::Server(code),
        _ => Failure::Other,
    }
}

/// Classifies a kube error and gives its message.
pub fn classify(err: &kube::Error) -> (Failure, String) {
    match err {
        kube::Error::Api(status) => {
            let failure = from_status(status.code);
            let message = if status.message.is_empty() {
                format!("{} {}", status.code, status.reason)
            } else {
                format!("{} {}: {}", status.code, status.reason, status.message)
            };
            (failure, message)
        }
        kube::Error::Auth(e) => (Failure::Unauthorized, format!("credentials: {e}")),
        kube::Error::SerdeError(e) => {
            (Failure::Other, not_an_api(&format!("something that is not the API's JSON: {e}")))
        }
        other => cause(other).unwrap_or_else(|| (Failure::Other, short(other))),
    }
}

/// The innermost useful message of an error chain ("connection refused", not the
/// whole stack of wrappers).
fn short(err: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !messages.iter().any(|m: &String| m.contains(&text)) {
            messages.push(text);
        }
        current = e.source();
    }
    match messages.as_slice() {
        [] => "unknown error".to_owned(),
        [only] => only.clone(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

/// Classifies a watcher error.
pub fn classify_watch(err: &super::watch::WatchError) -> (Failure, String) {
    use super::watch::WatchError as W;
    match err {
        W::List(e) => {
            let (f, m) = classify(e);
            (f, format!("list: {m}"))
        }
        W::Start(e) | W::Stream(e) => {
            let (f, m) = classify(e);
            (f, format!("watch: {m}"))
        }
        W::Status(status) => {
            (from_status(status.code), format!("watch: {} {}: {}", status.code, status.reason, status.message))
        }
        W::NoResourceVersion => (Failure::Other, "watch: no resourceVersion in the list".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_io_errors_classify() {
        let status = kube::core::Status::failure("nope", "Forbidden").with_code(403);
        assert_eq!(classify(&kube::Error::Api(status.boxed())).0, Failure::Forbidden);
        assert_eq!(from_status(503), Failure::Server(503));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        assert_eq!(cause(&io), Some((Failure::Unreachable, "connection refused".to_owned())));
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        assert_eq!(cause(&timeout).map(|c| c.0), Some(Failure::Timeout));
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            cause(&unknown),
            Some((
                Failure::Unreachable,
                "TLS: the server's certificate is not signed by the CA in the kubeconfig".into()
            ))
        );
        assert_eq!(one_line("error:  token\n\n  expired\n", 100), "error: token / expired");
        assert_eq!(one_line("abcdef", 4), "abc…");
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(cause(&plain).unwrap().1.starts_with("TLS: the server does not speak TLS"));
    }
}
