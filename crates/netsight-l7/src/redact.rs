//! Redaction of secrets in what records carry (SPEC §7, §8).
//!
//! HTTP records never carry headers, so `Authorization`, `Proxy-Authorization`, `Cookie` and
//! `Set-Cookie` cannot leak; what remains is the request target, where [`path`] hides the
//! values of query parameters whose names suggest a secret and the password of a URL's
//! userinfo. Redis records carry only the command and its key, chosen so that `AUTH`,
//! `HELLO ... AUTH`, `MIGRATE ... AUTH`/`AUTH2` arguments and `CONFIG SET` values are never in
//! them (see [`crate::redis`]).

/// What replaces a redacted value.
pub const REDACTED: &str = "REDACTED";

/// Parts of query parameter names that mark the value as a secret (compared in lowercase).
const SECRET_NAMES: &[&str] = &[
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "auth",
    "sig",
    "credential",
    "session",
    "jwt",
    "otp",
];

fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| lower.contains(s))
}

/// Redacts a request target: sensitive query values and a userinfo password.
///
/// ```
/// use netsight_l7::redact::path;
/// assert_eq!(path("/login?user=bob&password=hunter2"), "/login?user=bob&password=REDACTED");
/// assert_eq!(path("http://u:p@h/x"), "http://u:REDACTED@h/x");
/// assert_eq!(path("/plain"), "/plain");
/// ```
pub fn path(target: &str) -> String {
    if !target.as_bytes().iter().any(|&c| c == b'?' || c == b'@') {
        return target.to_string();
    }
    let (before, query) = match target.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (target, None),
    };
    let mut out = String::with_capacity(target.len());
    out.push_str(&userinfo(before));
    let Some(query) = query else {
        return out;
    };
    out.push('?');
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && is_secret_name(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// `scheme://user:password@host...` -> `scheme://user:REDACTED@host...`.
fn userinfo(s: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.into();
    };
    let rest = &s[start..];
    let auth_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let Some(at) = authority.rfind('@') else {
        return s.into();
    };
    let Some(colon) = authority[..at].find(':') else {
        return s.into();
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..start + colon + 1]);
    out.push_str(REDACTED);
    out.push_str(&s[start + at..]);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(
            path("/a?access_token=abc&x=1&API_KEY=zz&Secret=s&pwd=&q=ok#frag"),
            "/a?access_token=REDACTED&x=1&API_KEY=REDACTED&Secret=REDACTED&pwd=&q=ok#frag"
        );
        assert_eq!(path("/a?flag&token"), "/a?flag&token");
        assert_eq!(path("/?"), "/?");
    }

    #[test]
    fn userinfo_password() {
        assert_eq!(
            path("http://alice:s3cr3t@example.com:8080/p?q=1"),
            "http://alice:REDACTED@example.com:8080/p?q=1"
        );
        assert_eq!(
            path("http://alice@example.com/"),
            "http://alice@example.com/"
        );
        // Unicode and odd input must not panic.
        assert_eq!(path("ä://ö:ü@ß"), "ä://ö:REDACTED@ß");
    }
}
