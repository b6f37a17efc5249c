//! Chunked transfer coding (RFC 9112 §7.1), skipped without buffering: size lines (with
//! extensions), data, the CR LF after each chunk, the last chunk and trailer lines.

/// Where in the framing the decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// In a size line: bytes of it so far, hex digits so far, and whether an extension (or
    /// whitespace) ended the digits.
    Size { len: u16, digits: u8, ext: bool },
    /// Chunk data still to come.
    Data(u64),
    /// The CR LF after a chunk's data; having seen the CR or not.
    DataEnd(bool),
    /// Trailer lines; bytes in the current line.
    Trailer(u16),
}

/// Longest size line (with extensions) and trailer line accepted.
const MAX_SIZE_LINE: u16 = 256;
const MAX_TRAILER_LINE: u16 = 4096;

/// What a step ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// All bytes used; the body goes on.
    More,
    /// The body ended (after the bytes used).
    Done,
    /// The framing is broken.
    Bad,
}

/// A chunked body being skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chunked {
    at: At,
    size: u64,
}

impl Chunked {
    /// At the start of a body.
    pub(super) fn new() -> Self {
        Chunked {
            at: At::Size {
                len: 0,
                digits: 0,
                ext: false,
            },
            size: 0,
        }
    }

    /// Consumes from `b`: how many bytes were used, and how it ended.
    pub(super) fn step(&mut self, b: &[u8]) -> (usize, Step) {
        let mut i = 0;
        while i < b.len() {
            match self.at {
                At::Size { len, digits, ext } => {
                    let c = b[i];
                    i += 1;
                    if c == b'\n' {
                        if digits == 0 {
                            return (i, Step::Bad);
                        }
                        let size = std::mem::take(&mut self.size);
                        self.at = if size == 0 {
                            At::Trailer(0)
                        } else {
                            At::Data(size)
                        };
                        continue;
                    }
                    if len >= MAX_SIZE_LINE {
                        return (i, Step::Bad);
                    }
                    let len = len + 1;
                    if ext {
                        self.at = At::Size { len, digits, ext };
                        continue;
                    }
                    match (c as char).to_digit(16) {
                        // 16 hex digits fill a u64.
                        Some(d) if digits < 16 => {
                            self.size = (self.size << 4) | u64::from(d);
                            self.at = At::Size {
                                len,
                                digits: digits + 1,
                                ext,
                            };
                        }
                        None if digits > 0 && matches!(c, b';' | b' ' | b'\t' | b'\r') => {
                            self.at = At::Size {
                                len,
                                digits,
                                ext: true,
                            };
                        }
                        _ => return (i, Step::Bad),
                    }
                }
                At::Data(n) => {
                    let take = ((b.len() - i) as u64).min(n);
                    i += take as usize;
                    self.at = if take == n {
                        At::DataEnd(false)
                    } else {
                        At::Data(n - take)
                    };
                }
                At::DataEnd(cr) => {
                    let c = b[i];
                    i += 1;
                    match (c, cr) {
                        (b'\r', false) => self.at = At::DataEnd(true),
                        (b'\n', _) => {
                            self.at = At::Size {
                                len: 0,
                                digits: 0,
                                ext: false,
                            }
                        }
                        _ => return (i, Step::Bad),
                    }
                }
                At::Trailer(n) => {
                    let c = b[i];
                    i += 1;
                    if c == b'\n' {
                        if n == 0 {
                            return (i, Step::Done);
                        }
                        self.at = At::Trailer(0);
                    } else if c != b'\r' {
                        if n >= MAX_TRAILER_LINE {
                            return (i, Step::Bad);
                        }
                        self.at = At::Trailer(n + 1);
                    }
                }
            }
        }
        (i, Step::More)
    }

    /// Skips up to `n` bytes that went by uncaptured, if they can only be chunk data; returns
    /// how many. Anything else (a size line, a CR LF) cannot be followed blind.
    pub(super) fn skip_uncaptured(&mut self, n: u64) -> u64 {
        match self.at {
            At::Data(left) => {
                let take = n.min(left);
                self.at = if take == left {
                    At::DataEnd(false)
                } else {
                    At::Data(left - take)
                };
                take
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parts: &[&[u8]]) -> (usize, Step) {
        let mut c = Chunked::new();
        let mut used = 0;
        for p in parts {
            let (n, st) = c.step(p);
            used += n;
            if st != Step::More {
                return (used, st);
            }
        }
        (used, Step::More)
    }

    #[test]
    fn framing() {
        let body = b"5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        assert_eq!(run(&[body]), (body.len() - 4, Step::Done));
        // Split at every position.
        for cut in 1..body.len() - 4 {
            let (a, b) = body.split_at(cut);
            assert_eq!(run(&[a, b]), (body.len() - 4, Step::Done), "cut {cut}");
        }
        assert_eq!(run(&[b"A\r\n0123456789\r\n0\r\n\r\n"]).1, Step::Done);
        assert_eq!(run(&[b"\r\n"]).1, Step::Bad);
        assert_eq!(run(&[b"zz\r\n"]).1, Step::Bad);
        assert_eq!(run(&[b"11111111111111111\r\n"]).1, Step::Bad);
        assert_eq!(run(&[b"3\r\nabcX"]).1, Step::Bad);
        assert_eq!(run(&[b"3\r\nabc\r\n"]).1, Step::More);
    }

    #[test]
    fn uncaptured_data() {
        let mut c = Chunked::new();
        assert_eq!(c.step(b"10\r\nab"), (6, Step::More));
        assert_eq!(c.skip_uncaptured(100), 14);
        assert_eq!(c.skip_uncaptured(5), 0);
        assert_eq!(c.step(b"\r\n0\r\n\r\n"), (7, Step::Done));
    }
}
