//! Which ring buffers a receive completion filled, and how many bytes each holds.
//!
//! A receive from the buffer ring reports only its first buffer id and the bytes it read. A
//! bundle (IORING_RECVSEND_BUNDLE, kernel 6.10) may have filled several buffers: the ones
//! after the first in ring order. Every buffer is filled up to the length its descriptor
//! holds, and that need not be the length we published: kernels truncate the last
//! descriptor of a peek to the bytes they expect and write the shorter length back into the
//! ring (before the mid-2025 fix "io_uring/kbuf: don't truncate end buffer for multiple
//! buffer peeks", every peek; since, still the first descriptor of one). When the receive
//! then reads less (a FIN counted as a queued byte), the truncated descriptor stays at the
//! ring's head and the next receive, on any connection of the core, fills only that much of
//! it. So a completion is split by each descriptor's own length, never by the buffer size.
//!
//! [`split`] is the pure rule; the ring applies it to its descriptors from its head on.

/// A completion does not match the ring as we know it: the engine and the kernel disagree
/// about which buffers it filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutOfStep {
    /// The descriptor at our head is not the buffer the kernel reported.
    Head {
        /// The buffer at our head.
        ours: u16,
        /// The buffer the kernel reported.
        reported: u16,
    },
    /// The published descriptors hold fewer bytes than the completion reports.
    Short {
        /// Bytes left over once every published descriptor was counted.
        missing: usize,
    },
}

/// How many descriptors, from the head on, a completion of `res` bytes whose first buffer is
/// `first` consumed. `ring` yields the published descriptors in ring order as `(bid, len)`.
///
/// The rule is the kernel's (`io_bundle_nbufs`): each descriptor takes up to its own length,
/// a zero-length one is consumed without bytes, and counting stops once every byte is
/// placed. A completion without bytes (EOF, or an error that still consumed a buffer)
/// consumes its first buffer only.
///
/// # Errors
///
/// [`OutOfStep`] when the head is not `first`, or the descriptors run out before `res`
/// bytes are placed.
pub(crate) fn split(
    first: u16,
    res: usize,
    mut ring: impl Iterator<Item = (u16, u32)>,
) -> Result<usize, OutOfStep> {
    let Some((head, len)) = ring.next() else {
        return Err(OutOfStep::Short { missing: res });
    };
    if head != first {
        return Err(OutOfStep::Head {
            ours: head,
            reported: first,
        });
    }
    let mut left = res.saturating_sub(len as usize);
    let mut consumed = 1;
    while left > 0 {
        let Some((_, len)) = ring.next() else {
            return Err(OutOfStep::Short { missing: left });
        };
        left = left.saturating_sub(len as usize);
        consumed += 1;
    }
    Ok(consumed)
}

/// The bytes the next consumed descriptor of length `len` holds, with `left` bytes of the
/// completion still to place; `left` is updated.
pub(crate) fn take(left: &mut usize, len: u32) -> usize {
    let n = (*left).min(len as usize);
    *left -= n;
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits like the driver does: the (bid, bytes) of every consumed buffer.
    fn pieces(first: u16, res: usize, ring: &[(u16, u32)]) -> Result<Vec<(u16, usize)>, OutOfStep> {
        let n = split(first, res, ring.iter().copied())?;
        let mut left = res;
        Ok(ring[..n]
            .iter()
            .map(|&(bid, len)| (bid, take(&mut left, len)))
            .collect())
    }

    const FULL: u32 = 4096;

    #[test]
    fn one_buffer_partly_filled() {
        assert_eq!(pieces(7, 100, &[(7, FULL), (8, FULL)]), Ok(vec![(7, 100)]));
    }

    #[test]
    fn a_bundle_of_full_buffers_and_a_short_last() {
        let ring = [(3, FULL), (9, FULL), (1, FULL), (4, FULL)];
        assert_eq!(
            pieces(3, 2 * 4096 + 10, &ring),
            Ok(vec![(3, 4096), (9, 4096), (1, 10)])
        );
        // Exactly full: the next descriptor is not consumed.
        assert_eq!(pieces(3, 2 * 4096, &ring), Ok(vec![(3, 4096), (9, 4096)]));
    }

    #[test]
    fn a_truncated_head_holds_only_its_own_length() {
        // A FIN after data left the head truncated to 1 byte; the next bundle fills that
        // byte, then full buffers. Splitting by buffer size would hand out 4,095 stale bytes.
        let ring = [(5, 1), (6, FULL), (2, FULL)];
        assert_eq!(
            pieces(5, 1 + 4096 + 903, &ring),
            Ok(vec![(5, 1), (6, 4096), (2, 903)])
        );
    }

    #[test]
    fn a_truncated_middle_descriptor() {
        let ring = [(0, FULL), (1, 100), (2, FULL)];
        assert_eq!(
            pieces(0, 4096 + 100 + 50, &ring),
            Ok(vec![(0, 4096), (1, 100), (2, 50)])
        );
    }

    #[test]
    fn zero_length_descriptors_are_consumed_without_bytes() {
        let ring = [(0, FULL), (1, 0), (2, FULL)];
        assert_eq!(
            pieces(0, 4096 + 10, &ring),
            Ok(vec![(0, 4096), (1, 0), (2, 10)])
        );
    }

    #[test]
    fn no_bytes_consume_the_first_buffer_only() {
        assert_eq!(pieces(4, 0, &[(4, FULL), (5, FULL)]), Ok(vec![(4, 0)]));
        assert_eq!(pieces(4, 0, &[(4, 1)]), Ok(vec![(4, 0)]));
    }

    #[test]
    fn a_head_out_of_step_is_reported() {
        assert_eq!(
            split(9, 10, [(4, FULL), (9, FULL)].into_iter()),
            Err(OutOfStep::Head {
                ours: 4,
                reported: 9
            })
        );
    }

    #[test]
    fn too_few_descriptors_are_reported() {
        assert_eq!(
            split(1, 3 * 4096, [(1, FULL), (2, FULL)].into_iter()),
            Err(OutOfStep::Short { missing: 4096 })
        );
        assert_eq!(
            split(1, 10, std::iter::empty()),
            Err(OutOfStep::Short { missing: 10 })
        );
    }
}
