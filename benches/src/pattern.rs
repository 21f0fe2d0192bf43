//! Deterministic message contents, so that every echoed byte can be checked without keeping a
//! copy of what was sent.

/// The content of one message: a function of the connection id and the message's sequence
/// number, so a byte echoed on the wrong connection or out of order is caught.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    seed: u64,
}

impl Pattern {
    /// The pattern of message `seq` on connection `conn`.
    pub fn new(conn: u32, seq: u64) -> Self {
        Self {
            seed: splitmix64(splitmix64(u64::from(conn)) ^ seq),
        }
    }

    /// Byte `i` of the message.
    #[inline]
    pub fn byte(self, i: usize) -> u8 {
        // Eight bytes of the seed, xor-ed with the index of the 8-byte block.
        (self.seed >> ((i & 7) * 8)) as u8 ^ (i >> 3) as u8
    }

    /// Bytes `8 * block .. 8 * block + 8` of the message, as one little-endian word.
    #[inline]
    fn word(self, block: usize) -> u64 {
        self.seed ^ u64::from(block as u8).wrapping_mul(0x0101_0101_0101_0101)
    }

    /// Appends the first `len` bytes of the message to `out`.
    pub fn extend(self, out: &mut Vec<u8>, len: usize) {
        out.reserve(len);
        for block in 0..len / 8 {
            out.extend_from_slice(&self.word(block).to_le_bytes());
        }
        out.extend((len & !7..len).map(|i| self.byte(i)));
    }

    /// Checks `data` against the message's bytes starting at `offset`; returns the index in
    /// `data` of the first wrong byte.
    pub fn first_mismatch(self, offset: usize, data: &[u8]) -> Option<usize> {
        let slow = |from: usize, to: usize| (from..to).find(|&i| data[i] != self.byte(offset + i));
        // Byte by byte up to an 8-byte boundary of the message, then word by word.
        let head = ((8 - offset % 8) % 8).min(data.len());
        if let Some(i) = slow(0, head) {
            return Some(i);
        }
        let words = data[head..].chunks_exact(8);
        let tail = head + words.len() * 8;
        for (k, w) in words.enumerate() {
            let at = head + k * 8;
            let got = u64::from_le_bytes(w.try_into().expect("chunks of 8"));
            if got != self.word((offset + at) / 8) {
                return slow(at, at + 8);
            }
        }
        slow(tail, data.len())
    }
}

/// SplitMix64 finaliser: a cheap, well-mixing 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_detection() {
        let p = Pattern::new(3, 17);
        let mut buf = Vec::new();
        p.extend(&mut buf, 100);
        assert_eq!(p.first_mismatch(0, &buf), None);
        assert_eq!(p.first_mismatch(40, &buf[40..]), None);
        buf[57] ^= 1;
        assert_eq!(p.first_mismatch(0, &buf), Some(57));
        // Neighbouring messages and connections differ.
        let mut other = Vec::new();
        Pattern::new(3, 18).extend(&mut other, 100);
        assert_ne!(buf, other);
        other.clear();
        Pattern::new(4, 17).extend(&mut other, 100);
        assert_ne!(buf, other);
    }

    #[test]
    fn word_and_byte_paths_agree() {
        let p = Pattern::new(9, 1234);
        let mut buf = Vec::new();
        p.extend(&mut buf, 77);
        assert!(buf.iter().enumerate().all(|(i, &b)| b == p.byte(i)));
        for offset in 0..20 {
            for end in offset..77 {
                assert_eq!(p.first_mismatch(offset, &buf[offset..end]), None);
                if end > offset {
                    let mut bad = buf[offset..end].to_vec();
                    let j = (end - offset) / 2;
                    bad[j] ^= 0x40;
                    assert_eq!(p.first_mismatch(offset, &bad), Some(j));
                }
            }
        }
    }
}
