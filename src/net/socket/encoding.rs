//! `set_encoding`: received bytes decoded to text across chunk boundaries, as Node's
//! `StringDecoder` does (a multi-byte character split over two reads is never mangled).

use base64::Engine as _;

/// The text encodings of Node's `setEncoding` that corenet supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// UTF-8; invalid sequences become U+FFFD, an incomplete one waits for the next read.
    Utf8,
    /// ISO-8859-1 ("latin1", "binary"): one character per byte.
    Latin1,
    /// Lower-case hex, two characters per byte.
    Hex,
    /// Standard base64 with padding, emitted in whole 3-byte groups (the rest waits).
    Base64,
}

/// An incremental decoder. Its output string is reused: steady-state decoding does not
/// allocate.
#[derive(Debug)]
pub(crate) struct Decoder {
    encoding: Encoding,
    /// Bytes of an incomplete character (UTF-8) or group (base64) from the previous read.
    carry: Vec<u8>,
    out: String,
}

impl Decoder {
    pub(crate) fn new(encoding: Encoding) -> Self {
        Decoder {
            encoding,
            carry: Vec::with_capacity(4),
            out: String::new(),
        }
    }

    /// Decodes `bytes` (after what was carried over); the text may be empty.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> &str {
        self.out.clear();
        match self.encoding {
            Encoding::Latin1 => self.out.extend(bytes.iter().map(|&b| char::from(b))),
            Encoding::Hex => {
                for b in bytes {
                    self.out
                        .push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
                    self.out
                        .push(char::from_digit(u32::from(b & 0xf), 16).expect("a nibble"));
                }
            }
            Encoding::Utf8 => self.decode_utf8(bytes),
            Encoding::Base64 => {
                self.carry.extend_from_slice(bytes);
                let whole = self.carry.len() / 3 * 3;
                base64::engine::general_purpose::STANDARD
                    .encode_string(&self.carry[..whole], &mut self.out);
                self.carry.drain(..whole);
            }
        }
        &self.out
    }

    fn decode_utf8(&mut self, mut bytes: &[u8]) {
        // Complete a character carried over from the previous read, byte by byte.
        while !self.carry.is_empty() && !bytes.is_empty() {
            self.carry.push(bytes[0]);
            bytes = &bytes[1..];
            match std::str::from_utf8(&self.carry) {
                Ok(s) => {
                    self.out.push_str(s);
                    self.carry.clear();
                }
                Err(e) if e.error_len().is_some() => {
                    // Not a valid sequence after all: one replacement, then retry the rest.
                    self.out.push(char::REPLACEMENT_CHARACTER);
                    let rest: Vec<u8> = self.carry[e.error_len().unwrap_or(1)..].to_vec();
                    self.carry.clear();
                    self.decode_utf8_tail(&rest);
                }
                Err(_) => {} // still incomplete
            }
        }
        self.decode_utf8_tail(bytes);
    }

    fn decode_utf8_tail(&mut self, mut bytes: &[u8]) {
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    self.out.push_str(s);
                    return;
                }
                Err(e) => {
                    let (valid, rest) = bytes.split_at(e.valid_up_to());
                    self.out
                        .push_str(std::str::from_utf8(valid).expect("validated prefix"));
                    match e.error_len() {
                        Some(n) => {
                            self.out.push(char::REPLACEMENT_CHARACTER);
                            bytes = &rest[n..];
                        }
                        None => {
                            // An incomplete character at the end: wait for the next read.
                            self.carry.extend_from_slice(rest);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// At end of stream: what was carried over (an incomplete UTF-8 character becomes
    /// U+FFFD; base64's last group is emitted with padding).
    pub(crate) fn finish(&mut self) -> Option<&str> {
        if self.carry.is_empty() {
            return None;
        }
        self.out.clear();
        match self.encoding {
            Encoding::Utf8 => self.out.push(char::REPLACEMENT_CHARACTER),
            Encoding::Base64 => {
                base64::engine::general_purpose::STANDARD.encode_string(&self.carry, &mut self.out)
            }
            Encoding::Latin1 | Encoding::Hex => {}
        }
        self.carry.clear();
        Some(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(enc: Encoding, bytes: &[u8], split: usize) -> String {
        let mut d = Decoder::new(enc);
        let mut out = String::new();
        for part in bytes.chunks(split.max(1)) {
            out.push_str(d.decode(part));
        }
        if let Some(rest) = d.finish() {
            out.push_str(rest);
        }
        out
    }

    #[test]
    fn utf8_characters_split_across_reads_survive() {
        let text = "héllo € 𝄞 wörld";
        for split in 1..8 {
            assert_eq!(
                decode_split(Encoding::Utf8, text.as_bytes(), split),
                text,
                "split {split}"
            );
        }
    }

    #[test]
    fn utf8_invalid_and_truncated_become_replacement() {
        assert_eq!(decode_split(Encoding::Utf8, b"a\xffb", 1), "a\u{fffd}b");
        assert_eq!(decode_split(Encoding::Utf8, b"ab\xe2\x82", 3), "ab\u{fffd}");
        assert_eq!(decode_split(Encoding::Utf8, b"\xe2\x82x", 1), "\u{fffd}x");
    }

    #[test]
    fn latin1_hex_base64() {
        assert_eq!(decode_split(Encoding::Latin1, &[0x68, 0xe9], 1), "hé");
        assert_eq!(
            decode_split(Encoding::Hex, &[0x00, 0xab, 0xff], 2),
            "00abff"
        );
        for split in 1..6 {
            assert_eq!(
                decode_split(Encoding::Base64, b"hello world", split),
                "aGVsbG8gd29ybGQ=",
                "split {split}"
            );
        }
    }
}
