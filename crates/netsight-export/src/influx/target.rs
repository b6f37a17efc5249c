//! Where and how a batch is written (v1 or v2 API), and what the server's
//! answer means for the batch.

use std::time::{Duration, SystemTime};

use crate::backoff::parse_retry_after;
use crate::config::{InfluxApi, InfluxConfig};
use crate::http::{base64, query_escape, HttpUrl, Request, Response};

/// A write endpoint with its credentials. `Debug` shows no secret.
pub struct WriteTarget {
    pub url: HttpUrl,
    target: String,
    auth: Option<String>,
    pub gzip: bool,
}

impl std::fmt::Debug for WriteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteTarget({}{})", self.url, self.target)
    }
}

impl WriteTarget {
    pub fn new(cfg: &InfluxConfig) -> Self {
        let (target, auth) = match &cfg.api {
            InfluxApi::V1 {
                database,
                retention_policy,
                username,
                password,
            } => {
                let mut t = format!("/write?db={}&precision=ms", query_escape(database));
                if !retention_policy.is_empty() {
                    t.push_str(&format!("&rp={}", query_escape(retention_policy)));
                }
                // Basic auth rather than u=/p= in the query, so the password is
                // never part of a URL that might be logged.
                let auth = (!username.is_empty()).then(|| {
                    format!(
                        "Basic {}",
                        base64(format!("{username}:{}", password.expose()).as_bytes())
                    )
                });
                (t, auth)
            }
            InfluxApi::V2 { org, bucket, token } => (
                format!(
                    "/api/v2/write?org={}&bucket={}&precision=ms",
                    query_escape(org),
                    query_escape(bucket)
                ),
                Some(format!("Token {}", token.expose())),
            ),
        };
        WriteTarget {
            url: cfg.url.clone(),
            target,
            auth,
            gzip: cfg.gzip,
        }
    }

    /// Path and query of the write requests (no secret in it).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The request for an already encoded (and maybe gzipped) body.
    pub fn request<'a>(&self, body: &'a [u8]) -> Request<'a> {
        let mut headers = vec![("Content-Type", "text/plain; charset=utf-8".to_string())];
        if self.gzip {
            headers.push(("Content-Encoding", "gzip".into()));
        }
        if let Some(auth) = &self.auth {
            headers.push(("Authorization", auth.clone()));
        }
        Request {
            method: "POST",
            target: self.target.clone(),
            headers,
            body,
        }
    }
}

/// What to do with a batch after the server answered (or did not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// The server refused the data itself (400, 413, other 4xx): sending it
    /// again would fail the same way, so it is dropped and counted.
    Rejected {
        status: u16,
        message: String,
    },
    /// Worth another try later: a transport error, 5xx, 429, or a 401/403/
    /// 404 that a fixed server-side setup or a config reload can cure.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
}

pub fn classify(resp: &Response, now: SystemTime) -> Outcome {
    let status = resp.status;
    if (200..300).contains(&status) {
        return Outcome::Written;
    }
    let message = server_message(resp);
    let retryable = matches!(status, 401 | 403 | 404 | 408 | 429) || status >= 500;
    if !retryable {
        return Outcome::Rejected { status, message };
    }
    let after = resp
        .header("Retry-After")
        .and_then(|v| parse_retry_after(v, now));
    Outcome::Retry {
        after,
        reason: format!("HTTP {status}: {message}"),
    }
}

/// The server's explanation: InfluxDB 1.x `{"error": ...}`, 2.x
/// `{"message": ...}`, the `X-Influxdb-Error` header, or the raw body; one
/// line, at most 300 characters.
pub fn server_message(resp: &Response) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let from_json = json.as_ref().and_then(|v| {
        v.get("error")
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    let text = from_json
        .or_else(|| resp.header("X-Influxdb-Error").map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).into_owned());
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect();
    if one_line.is_empty() {
        "(no message)".into()
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn target(toml: &str) -> WriteTarget {
        WriteTarget::new(&Config::parse(toml).unwrap().influxdb.unwrap())
    }

    #[test]
    fn v1_and_v2_requests() {
        let t = target("[influxdb]\ndatabase = \"net sight\"\nusername = \"u\"\npassword = \"p\"\nretention_policy = \"week\"\n");
        let r = t.request(b"x");
        assert_eq!(r.target, "/write?db=net%20sight&precision=ms&rp=week");
        assert!(r.headers.contains(&("Authorization", "Basic dTpw".into())));
        assert!(r.headers.contains(&("Content-Encoding", "gzip".into())));
        let t = target("[influxdb]\nurl = \"http://h:8086/base\"\norg = \"my org\"\nbucket = \"b\"\ntoken = \"tok\"\ngzip = false\n");
        let r = t.request(b"x");
        assert_eq!(r.target, "/api/v2/write?org=my%20org&bucket=b&precision=ms");
        assert!(r.headers.contains(&("Authorization", "Token tok".into())));
        assert!(!r.headers.iter().any(|(k, _)| *k == "Content-Encoding"));
        assert!(!format!("{t:?}").contains("tok"), "{t:?}");
    }

    #[test]
    fn a_400_is_rejected_with_the_servers_message() {
        let r = resp(400, &[], "{\"error\":\"partial write: field type conflict: input field \\\"tcp_tx_bytes\\\" on measurement \\\"netsight_process\\\" is type integer, already exists as type string dropped=3\"}");
        let Outcome::Rejected { status, message } = classify(&r, SystemTime::now()) else {
            panic!("400 must not be retried")
        };
        assert_eq!(status, 400);
        assert!(
            message.starts_with("partial write: field type conflict"),
            "{message}"
        );
        let r = resp(
            413,
            &[],
            "{\"code\":\"request too large\",\"message\":\"too big\"}",
        );
        assert_eq!(
            classify(&r, SystemTime::now()),
            Outcome::Rejected {
                status: 413,
                message: "too big".into()
            }
        );
    }

    #[test]
    fn a_503_or_429_is_retried_after_retry_after() {
        for status in [503, 429] {
            let r = resp(status, &[("retry-after", "7")], "busy\n");
            assert_eq!(
                classify(&r, SystemTime::now()),
                Outcome::Retry {
                    after: Some(Duration::from_secs(7)),
                    reason: format!("HTTP {status}: busy")
                }
            );
        }
        let r = resp(500, &[], "");
        assert!(matches!(
            classify(&r, SystemTime::now()),
            Outcome::Retry { after: None, .. }
        ));
        assert_eq!(
            classify(&resp(204, &[], ""), SystemTime::now()),
            Outcome::Written
        );
    }
}
