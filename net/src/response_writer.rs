//! Writes a response's parts to the connection's stream with vectored
//! writes: on a plaintext socket one `sendmsg(2)` carries the size prefix,
//! the encoded fields and every partition's records straight from the
//! log's buffers, where a write per part cost a system call each (a Fetch
//! for 8 partitions has some 17 parts).
//!
//! Invariants: every byte of every part is written once, in order, whatever
//! each write takes (a write may stop anywhere, inside a part or between
//! two); a write names at most [`SLICES_PER_WRITE`] buffers, well under
//! Linux's `UIO_MAXIOV` (1024), and the slices live in a fixed array in the
//! writing task, so nothing is allocated per response. A stream without a
//! vectored write of its own (TLS) writes the first buffer each time, as the
//! part-by-part loop did.

use std::io::{self, IoSlice};

use futures::io::{AsyncWrite, AsyncWriteExt};

/// The most buffers named in one vectored write. A Fetch response has two
/// parts per partition with records, plus a few: 64 covers a 30-partition
/// fetch in one call, and the socket's send buffer, not the slice count,
/// bounds a larger one.
pub(crate) const SLICES_PER_WRITE: usize = 64;

/// How far the parts of a response have been written: the first part not
/// yet written in full, and how many of its bytes have been.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct WriteCursor {
    part: usize,
    offset: usize,
}

/// A stream that reported writing more bytes than it was given: its bug,
/// not something to carry on from.
fn overrun() -> io::Error {
    io::Error::other("the stream reported more bytes written than it was given")
}

impl WriteCursor {
    /// Points `slices` at the bytes not yet written, in order, skipping
    /// empty parts; returns how many it filled (0 once everything is
    /// written, or if `slices` is empty).
    fn fill<'a, P: AsRef<[u8]>>(&self, parts: &'a [P], slices: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        let mut offset = self.offset;
        let mut rest = parts.get(self.part..).unwrap_or_default().iter();
        for slot in slices.iter_mut() {
            let next = rest.by_ref().find_map(|part| {
                let bytes = part.as_ref().get(offset..).unwrap_or_default();
                offset = 0;
                (!bytes.is_empty()).then_some(bytes)
            });
            let Some(bytes) = next else { break };
            *slot = IoSlice::new(bytes);
            filled += 1;
        }
        filled
    }

    /// Moves past `written` more bytes, across as many parts as they
    /// cover (and the empty parts after them).
    ///
    /// # Errors
    /// More bytes than the parts have left (see [`overrun`]).
    fn advance<P: AsRef<[u8]>>(&mut self, parts: &[P], written: usize) -> io::Result<()> {
        let mut left = written;
        while let Some(part) = parts.get(self.part) {
            let remaining = part.as_ref().len().saturating_sub(self.offset);
            if left < remaining {
                self.offset += left;
                return Ok(());
            }
            left -= remaining;
            self.part += 1;
            self.offset = 0;
        }
        if left == 0 {
            Ok(())
        } else {
            Err(overrun())
        }
    }
}

/// Writes every byte of `parts`, in order, to `writer`, naming up to
/// [`SLICES_PER_WRITE`] buffers per write. Does not flush.
///
/// # Errors
/// The stream's write error; `WriteZero` if it takes nothing.
///
/// # Cancel safety
/// Not cancel safe: dropped mid-way, part of the response may have been
/// written (the connection is then unusable, as with `write_all`).
pub(crate) async fn write_parts<W, P>(writer: &mut W, parts: &[P]) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    P: AsRef<[u8]>,
{
    let mut cursor = WriteCursor::default();
    loop {
        let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
        let filled = cursor.fill(parts, &mut slices);
        let Some(slices) = slices.get(..filled).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        match writer.write_vectored(slices).await {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => cursor.advance(parts, written)?,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// The buffers `cursor` would hand to a write of at most `max`.
    fn filled(cursor: &WriteCursor, parts: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
        let mut slices = vec![IoSlice::new(&[]); max];
        let n = cursor.fill(parts, &mut slices);
        slices[..n].iter().map(|slice| slice.to_vec()).collect()
    }

    #[test]
    fn a_write_ending_inside_a_part_resumes_from_its_next_byte() {
        let parts: [&[u8]; 3] = [b"abcd", b"efgh", b"ij"];
        let mut cursor = WriteCursor::default();
        cursor.advance(&parts, 6).unwrap();
        assert_eq!(cursor, WriteCursor { part: 1, offset: 2 });
        assert_eq!(
            filled(&cursor, &parts, 8),
            vec![b"gh".to_vec(), b"ij".to_vec()]
        );
    }

    #[test]
    fn a_write_ending_on_a_part_boundary_resumes_with_the_next_part() {
        let parts: [&[u8]; 3] = [b"abcd", b"efgh", b"ij"];
        let mut cursor = WriteCursor::default();
        cursor.advance(&parts, 4).unwrap();
        assert_eq!(cursor, WriteCursor { part: 1, offset: 0 });
        assert_eq!(
            filled(&cursor, &parts, 8),
            vec![b"efgh".to_vec(), b"ij".to_vec()]
        );
        cursor.advance(&parts, 6).unwrap();
        assert_eq!(filled(&cursor, &parts, 8), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn empty_parts_are_never_handed_to_the_stream() {
        let parts: [&[u8]; 5] = [b"", b"ab", b"", b"", b"c"];
        let mut cursor = WriteCursor::default();
        assert_eq!(
            filled(&cursor, &parts, 8),
            vec![b"ab".to_vec(), b"c".to_vec()]
        );
        cursor.advance(&parts, 2).unwrap();
        assert_eq!(filled(&cursor, &parts, 8), vec![b"c".to_vec()]);
        cursor.advance(&parts, 1).unwrap();
        assert_eq!(cursor.part, parts.len());
    }

    #[test]
    fn a_write_names_at_most_the_slices_it_is_given() {
        let parts: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
        let mut cursor = WriteCursor::default();
        assert_eq!(
            filled(&cursor, &parts, 2),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        cursor.advance(&parts, 2).unwrap();
        assert_eq!(
            filled(&cursor, &parts, 2),
            vec![b"c".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn a_stream_claiming_more_than_it_was_given_is_an_error() {
        let parts: [&[u8]; 2] = [b"ab", b"c"];
        let mut cursor = WriteCursor::default();
        assert!(cursor.advance(&parts, 4).is_err());
    }

    /// A stream that takes at most `take` bytes per write, from as many of
    /// the buffers as they span, and records how many buffers each write
    /// named.
    struct Trickle {
        take: usize,
        written: Vec<u8>,
        slices_per_write: Vec<usize>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.slices_per_write.push(bufs.len());
            let mut left = this.take;
            for buf in bufs {
                let n = buf.len().min(left);
                this.written.extend_from_slice(&buf[..n]);
                left -= n;
            }
            Poll::Ready(Ok(this.take - left))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn partial_writes_deliver_every_byte_in_order() {
        let parts: Vec<Vec<u8>> = (0..200u32)
            .map(|i| {
                (0..(i % 7) as u8)
                    .map(|b| b.wrapping_add(i as u8))
                    .collect()
            })
            .collect();
        let expected: Vec<u8> = parts.concat();
        for take in [1, 3, 5, 64, 1000, usize::MAX / 2] {
            let mut stream = Trickle {
                take,
                written: Vec::new(),
                slices_per_write: Vec::new(),
            };
            futures::executor::block_on(write_parts(&mut stream, &parts)).unwrap();
            assert_eq!(stream.written, expected, "take {take}");
            assert!(stream
                .slices_per_write
                .iter()
                .all(|&n| (1..=SLICES_PER_WRITE).contains(&n)));
        }
    }

    #[test]
    fn a_response_that_fits_goes_out_in_one_write() {
        let parts: [&[u8]; 17] = [b"header"; 17];
        let mut stream = Trickle {
            take: usize::MAX / 2,
            written: Vec::new(),
            slices_per_write: Vec::new(),
        };
        futures::executor::block_on(write_parts(&mut stream, &parts)).unwrap();
        assert_eq!(stream.slices_per_write, vec![17]);
    }
}
