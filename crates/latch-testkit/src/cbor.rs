//! The one CBOR writer of the test tools: just enough of RFC 8949 to build what an
//! authenticator sends (COSE keys, attestation objects) and what a hostile client might send
//! instead (lengths that lie, maps that claim more entries than follow, deep nesting).
//!
//! It writes heads and leaves the structure to the caller on purpose: a map is
//! `head(out, MAP, n)` followed by n keys and values, so a forging test can write a head
//! for three entries and supply two, or a byte string of 2^64-1 bytes followed by four.
//! Heads are always written in their shortest form, as CTAP2's canonical encoding requires,
//! so the bytes for a well-formed value are the ones a real authenticator produces.

/// Major type 0: an unsigned integer (the head's argument is the value).
pub const UINT: u8 = 0;
/// Major type 1: a negative integer, -1 - argument.
pub const NINT: u8 = 1;
/// Major type 2: a byte string of argument bytes.
pub const BYTES: u8 = 2;
/// Major type 3: a UTF-8 text string of argument bytes.
pub const TEXT: u8 = 3;
/// Major type 4: an array of argument items.
pub const ARRAY: u8 = 4;
/// Major type 5: a map of argument key/value pairs.
pub const MAP: u8 = 5;

/// A data item's head: `major` (0-7) and its argument in the shortest encoding.
pub fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg < 0x100 {
        out.extend([m | 24, arg as u8]);
    } else if arg < 0x1_0000 {
        out.push(m | 25);
        out.extend((arg as u16).to_be_bytes());
    } else if arg < 0x1_0000_0000 {
        out.push(m | 26);
        out.extend((arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(arg.to_be_bytes());
    }
}

/// An integer, positive or negative (COSE labels and algorithm ids are mostly negative).
pub fn int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        head(out, UINT, value as u64);
    } else {
        // -1 - n without overflow at i64::MIN.
        head(out, NINT, !(value as u64));
    }
}

pub fn text(out: &mut Vec<u8>, s: &str) {
    head(out, TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_use_the_shortest_form() {
        let mut v = vec![];
        head(&mut v, UINT, 23);
        head(&mut v, UINT, 24);
        head(&mut v, BYTES, 0x100);
        head(&mut v, MAP, 0x1_0000);
        head(&mut v, TEXT, u64::MAX);
        assert_eq!(
            v,
            [
                &[0x17][..],
                &[0x18, 24],
                &[0x59, 1, 0],
                &[0xba, 0, 1, 0, 0],
                &[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ]
            .concat()
        );
    }

    #[test]
    fn negative_integers_are_minus_one_minus_the_argument() {
        let mut v = vec![];
        for i in [-1, -7, -24, -25, i64::MIN] {
            int(&mut v, i);
        }
        assert_eq!(v, [&[0x20, 0x26, 0x37, 0x38, 24][..], &[0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]].concat());
    }
}
