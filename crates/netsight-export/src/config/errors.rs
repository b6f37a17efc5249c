//! Config errors as one line naming where: `line 7: influxdb.batch_points:
//! 0 must be at least 1`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based; `None` when the problem is the file as a whole.
    pub line: Option<usize>,
    /// `section.key`, `key` at top level, or empty.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// From a TOML syntax or type error: the line from its span, the key
    /// from the text of that line.
    pub fn from_toml(src: &str, e: &toml::de::Error) -> ConfigError {
        let message = e.message().replace('\n', " ");
        let Some(span) = e.span() else {
            return ConfigError {
                line: None,
                key: String::new(),
                message,
            };
        };
        let line = line_of(src, span.start);
        let text = src.lines().nth(line - 1).unwrap_or("");
        let key = match text.split_once('=') {
            Some((k, _)) if !text.trim_start().starts_with('[') => {
                k.trim().trim_matches('"').to_string()
            }
            _ => String::new(),
        };
        let message = match message.strip_prefix("unknown field `") {
            Some(rest) => {
                let known = rest.split_once("expected").map_or("", |(_, k)| k);
                format!("unknown key (known keys:{})", known.replace('`', ""))
                    .replace(" one of", "")
                    .replace("(known keys: a field named", "(known keys:")
            }
            None => message,
        };
        ConfigError {
            line: Some(line),
            key: qualified(&section_at(src, line), &key),
            message,
        }
    }

    /// For a value that parsed but failed a check: the line of `key` in
    /// `[section]` (or of the section header when the key is absent).
    pub fn at_key(src: &str, section: &str, key: &str, message: &str) -> ConfigError {
        let mut current = String::new();
        let mut header_line = None;
        for (i, l) in src.lines().enumerate() {
            let t = l.trim();
            if let Some(h) = header_name(t) {
                current = h;
                if current == section {
                    header_line = Some(i + 1);
                }
                continue;
            }
            let k = t.split_once('=').map(|(k, _)| k.trim().trim_matches('"'));
            if current == section && !key.is_empty() && k == Some(key) {
                return ConfigError {
                    line: Some(i + 1),
                    key: qualified(section, key),
                    message: message.to_string(),
                };
            }
        }
        ConfigError {
            line: header_line,
            key: qualified(section, key),
            message: message.to_string(),
        }
    }
}

fn qualified(section: &str, key: &str) -> String {
    match (section.is_empty(), key.is_empty()) {
        (_, true) => section.to_string(),
        (true, false) => key.to_string(),
        (false, false) => format!("{section}.{key}"),
    }
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// `[name]` -> `name` (comments after the header allowed).
fn header_name(t: &str) -> Option<String> {
    let inner = t.strip_prefix('[')?;
    let (name, _) = inner.split_once(']')?;
    Some(name.trim().trim_matches('"').to_string())
}

/// The section that `line` belongs to ("" before any header). A header
/// line itself belongs to its own section.
fn section_at(src: &str, line: usize) -> String {
    src.lines()
        .take(line)
        .filter_map(|l| header_name(l.trim()))
        .last()
        .unwrap_or_default()
}
