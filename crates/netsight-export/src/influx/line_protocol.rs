//! InfluxDB line protocol: `measurement,tag=v field=1i 1700000000000`.
//!
//! Escaping follows the InfluxDB reference ("Special characters"):
//! measurement: comma and space; tag keys, tag values and field keys:
//! comma, equals sign and space; string field values: double quote and
//! backslash. Line protocol has no way to carry a newline in a name or tag,
//! so CR, LF and TAB are written as the two characters `\r`, `\n`, `\t` (as
//! Telegraf does). A backslash that would otherwise escape the character
//! after it (a special character) is doubled, so every line parses in
//! InfluxDB 1.x and 2.x. Backslashes at the very end of a name or tag are
//! left out: InfluxDB 1.x refuses such a line whatever the escaping
//! ("invalid tag format", checked against influxd 1.6).

use std::fmt::Write as _;

/// One field value with its line-protocol type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Written with the `i` suffix; u64 values above i64::MAX saturate (the
    /// `u` type needs InfluxDB 1.8+, which Debian does not ship).
    Int(i64),
    /// Non-finite floats cannot be written; such fields are left out.
    Float(f64),
    Bool(bool),
    Str(String),
}

impl FieldValue {
    pub fn from_u64(v: u64) -> Self {
        FieldValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// One point, ready to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, FieldValue)>,
    /// Milliseconds since the epoch (requests say `precision=ms`).
    pub ts_ms: i64,
}

/// Which characters a token kind must escape.
#[derive(Clone, Copy)]
enum Token {
    Measurement,
    /// Tag keys, tag values and field keys.
    Key,
}

impl Token {
    fn is_special(self, c: char) -> bool {
        match self {
            Token::Measurement => c == ',' || c == ' ',
            Token::Key => c == ',' || c == ' ' || c == '=',
        }
    }
}

fn escape_token(out: &mut String, s: &str, kind: Token) {
    let mut chars = s.trim_end_matches('\\').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => {
                // A lone backslash is literal unless the next character would
                // be read as escaped by it (none ends a token: trimmed above).
                let next_is_escapable = match chars.peek() {
                    None => false,
                    Some(&n) => n == '\\' || kind.is_special(n) || matches!(n, '\n' | '\r' | '\t'),
                };
                out.push_str(if next_is_escapable { "\\\\" } else { "\\" });
            }
            c if kind.is_special(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

fn escape_string_value(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, v: &FieldValue) {
    match v {
        FieldValue::Int(i) => {
            let _ = write!(out, "{i}i");
        }
        // Rust's `Display` for f64 never uses an exponent and round-trips.
        FieldValue::Float(f) => {
            let _ = write!(out, "{f}");
        }
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        FieldValue::Str(s) => escape_string_value(out, s),
    }
}

/// Empty once the trailing backslashes that cannot be written are gone.
fn is_blank(s: &str) -> bool {
    s.trim_end_matches('\\').is_empty()
}

/// Appends `p` as one line (with its trailing `\n`). Returns false, writing
/// nothing, when the point has no writable field (InfluxDB would reject it).
/// Tags with an empty key or value are left out, as the protocol requires.
pub fn encode(out: &mut String, p: &Point) -> bool {
    let writable = |(k, v): &&(String, FieldValue)| {
        !k.is_empty() && !matches!(v, FieldValue::Float(f) if !f.is_finite())
    };
    if p.measurement.is_empty() || !p.fields.iter().any(|f| writable(&f)) {
        return false;
    }
    escape_token(out, &p.measurement, Token::Measurement);
    for (k, v) in p.tags.iter().filter(|(k, v)| !is_blank(k) && !is_blank(v)) {
        out.push(',');
        escape_token(out, k, Token::Key);
        out.push('=');
        escape_token(out, v, Token::Key);
    }
    let mut sep = ' ';
    for (k, v) in p.fields.iter().filter(writable) {
        out.push(sep);
        sep = ',';
        escape_token(out, k, Token::Key);
        out.push('=');
        write_value(out, v);
    }
    let _ = writeln!(out, " {}", p.ts_ms);
    true
}

/// One point as a line (convenience for tests and small callers).
pub fn encode_line(p: &Point) -> Option<String> {
    let mut s = String::new();
    encode(&mut s, p).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(measurement: &str, tags: &[(&str, &str)], fields: Vec<(&str, FieldValue)>) -> Point {
        Point {
            measurement: measurement.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ts_ms: 1_700_000_000_123,
        }
    }

    fn tag_line(value: &str) -> String {
        encode_line(&point(
            "m",
            &[("t", value)],
            vec![("f", FieldValue::Int(1))],
        ))
        .unwrap()
    }

    #[test]
    fn field_types_have_their_suffixes() {
        let p = point(
            "netsight_process",
            &[("host", "h1"), ("pid", "42")],
            vec![
                ("i", FieldValue::Int(-5)),
                ("u", FieldValue::from_u64(u64::MAX)),
                ("f", FieldValue::Float(1.5)),
                ("whole", FieldValue::Float(12.0)),
                ("b", FieldValue::Bool(true)),
                ("s", FieldValue::Str("x".into())),
            ],
        );
        assert_eq!(
            encode_line(&p).unwrap(),
            "netsight_process,host=h1,pid=42 i=-5i,u=9223372036854775807i,f=1.5,whole=12,b=true,s=\"x\" 1700000000123\n"
        );
    }

    #[test]
    fn measurement_escapes_commas_and_spaces_only() {
        let p = point("a b,c=d", &[], vec![("f", FieldValue::Int(1))]);
        assert_eq!(encode_line(&p).unwrap(), "a\\ b\\,c=d f=1i 1700000000123\n");
    }

    #[test]
    fn tags_and_field_keys_escape_commas_equals_and_spaces() {
        let p = point(
            "m",
            &[("k ey", "v,a=l ue")],
            vec![("f=k,e y", FieldValue::Int(1))],
        );
        assert_eq!(
            encode_line(&p).unwrap(),
            "m,k\\ ey=v\\,a\\=l\\ ue f\\=k\\,e\\ y=1i 1700000000123\n"
        );
    }

    #[test]
    fn quotes_are_literal_in_tags_and_escaped_in_strings() {
        assert_eq!(
            tag_line("say \"hi\""),
            "m,t=say\\ \"hi\" f=1i 1700000000123\n"
        );
        let p = point(
            "m",
            &[],
            vec![("s", FieldValue::Str("a \"q\" b\\c".into()))],
        );
        assert_eq!(
            encode_line(&p).unwrap(),
            "m s=\"a \\\"q\\\" b\\\\c\" 1700000000123\n"
        );
    }

    #[test]
    fn backslashes_stay_literal_unless_they_would_escape() {
        // In the middle: literal, as the reference allows.
        assert_eq!(tag_line("C:\\dir"), "m,t=C:\\dir f=1i 1700000000123\n");
        // Before a special character: doubled.
        assert_eq!(tag_line("a\\ b"), "m,t=a\\\\\\ b f=1i 1700000000123\n");
        // At the end: left out (InfluxDB 1.x cannot parse it at all).
        assert_eq!(tag_line("end\\\\"), "m,t=end f=1i 1700000000123\n");
        assert_eq!(
            tag_line("\\"),
            "m f=1i 1700000000123\n",
            "nothing left: no tag"
        );
        assert_eq!(tag_line("two\\\\x"), "m,t=two\\\\\\x f=1i 1700000000123\n");
    }

    #[test]
    fn newlines_never_split_a_line() {
        let line = tag_line("a\nb\r\tc");
        assert_eq!(line, "m,t=a\\nb\\r\\tc f=1i 1700000000123\n");
        let p = point("m", &[], vec![("s", FieldValue::Str("x\ny".into()))]);
        let line = encode_line(&p).unwrap();
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
    }

    #[test]
    fn empty_tags_and_non_finite_floats_are_left_out() {
        let p = point(
            "m",
            &[("cgroup", ""), ("comm", "x")],
            vec![
                ("nan", FieldValue::Float(f64::NAN)),
                ("ok", FieldValue::Int(2)),
            ],
        );
        assert_eq!(encode_line(&p).unwrap(), "m,comm=x ok=2i 1700000000123\n");
        let none = point("m", &[], vec![("inf", FieldValue::Float(f64::INFINITY))]);
        assert_eq!(encode_line(&none), None);
    }

    #[test]
    fn floats_never_use_exponents() {
        let p = point("m", &[], vec![("f", FieldValue::Float(1e21))]);
        assert_eq!(
            encode_line(&p).unwrap(),
            "m f=1000000000000000000000 1700000000123\n"
        );
    }
}
