//! Tests only: the value of each `#define NAME <integer expression>` in a C
//! header, so that constants Rust repeats are asserted against the header
//! the programs are built from instead of trusted to agree.

use std::collections::HashMap;

/// Every define of `header` whose body is an integer expression over
/// literals (decimal or hex, U/L suffixes), earlier defines, parentheses and
/// `<< >> | & + - * /`; others (include guards, function-like macros) are
/// left out.
pub fn integer_defines(header: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for line in header.lines() {
        let Some(rest) = line.trim_start().strip_prefix("#define ") else {
            continue;
        };
        let rest = rest.split("/*").next().unwrap_or("");
        let Some((name, body)) = rest.trim().split_once(char::is_whitespace) else {
            continue;
        };
        if name.contains('(') {
            continue;
        }
        let tokens = tokenize(body);
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
            known: &out,
        };
        if let Some(v) = p.expr(0).filter(|_| p.at == tokens.len()) {
            out.insert(name.to_string(), v);
        }
    }
    out
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
            {
                word.push(c);
                chars.next();
            }
            out.push(word);
        } else if c == '<' || c == '>' {
            chars.next();
            chars.next();
            out.push(format!("{c}{c}"));
        } else {
            out.push(c.to_string());
            chars.next();
        }
    }
    out
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    known: &'a HashMap<String, u64>,
}

/// Binary operators by C precedence, loosest first.
const LEVELS: [&[&str]; 5] = [&["|"], &["&"], &["<<", ">>"], &["+", "-"], &["*", "/"]];

impl Parser<'_> {
    fn expr(&mut self, level: usize) -> Option<u64> {
        if level == LEVELS.len() {
            return self.atom();
        }
        let mut v = self.expr(level + 1)?;
        while let Some(op) = self
            .tokens
            .get(self.at)
            .filter(|t| LEVELS[level].contains(&t.as_str()))
        {
            self.at += 1;
            let r = self.expr(level + 1)?;
            v = match op.as_str() {
                "|" => v | r,
                "&" => v & r,
                "<<" => v.checked_shl(u32::try_from(r).ok()?)?,
                ">>" => v.checked_shr(u32::try_from(r).ok()?)?,
                "+" => v.checked_add(r)?,
                "-" => v.checked_sub(r)?,
                "*" => v.checked_mul(r)?,
                _ => v.checked_div(r)?,
            };
        }
        Some(v)
    }

    fn atom(&mut self) -> Option<u64> {
        let t = self.tokens.get(self.at)?;
        self.at += 1;
        if t == "(" {
            let v = self.expr(0)?;
            (self.tokens.get(self.at)? == ")").then_some(())?;
            self.at += 1;
            return Some(v);
        }
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            let digits = t.trim_end_matches(['U', 'L', 'u', 'l']);
            return match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => digits.parse().ok(),
            };
        }
        self.known.get(t).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::integer_defines;

    #[test]
    fn evaluates_what_headers_write() {
        let d = integer_defines(
            "#ifndef G\n#define G\n#define A (1 << 18)\n#define B 2048\n#define C (A / B)\n\
             #define M ((1ULL << 25) - 1) /* why */\n#define X 0x9E37ULL\n#define F(x) x\n\
             #define K (C | (0x3FULL << 32) | 0xFFULL)\n",
        );
        assert_eq!(d["A"], 1 << 18);
        assert_eq!(d["C"], 128);
        assert_eq!(d["M"], (1 << 25) - 1);
        assert_eq!(d["X"], 0x9E37);
        assert_eq!(d["K"], 128 | 0x3F << 32 | 0xFF);
        assert!(!d.contains_key("G") && !d.contains_key("F"));
    }
}
