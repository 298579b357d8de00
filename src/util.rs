//! Small helpers shared by several domains: randomness and time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Fills a fresh array with bytes from the operating system's CSPRNG.
///
/// Panics only if the OS has no entropy source at all, which plexgate cannot run without.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("operating system random source unavailable");
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` for a URL query value or path segment: everything but unreserved
/// characters (RFC 3986) is escaped. The `percent-encoding` crate writes escapes straight into
/// the output (the hand-written version allocated a string per escaped byte).
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Decodes `%XX` escapes once (and `+` as a space when `plus_is_space`, as in query strings).
/// `None` for a malformed escape or a result that is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    percent_decode_after(Vec::with_capacity(s.len()), s, plus_is_space)
}

/// [`percent_decode`] appending to `out`, which holds what the caller wants in front (one
/// allocation for both).
pub fn percent_decode_after(mut out: Vec<u8>, s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(hex_byte(*bytes.get(i + 1)?, *bytes.get(i + 2)?)?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The byte two hex digits spell, as in a `%XX` escape.
pub fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` for Unix seconds (UTC; times before 1970 read as 1970).
///
/// The calendar arithmetic is httpdate's (already in the tree through hyper): its IMF-fixdate
/// (`Thu, 01 Jan 1970 00:00:00 GMT`) is only reordered here, so plexgate keeps no hand-written
/// calendar conversion of its own.
pub fn iso8601(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let imf = http_date(unix);
    let mut parts = imf.split(' ').skip(1);
    let (day, month, year, time) = (
        parts.next().unwrap_or("01"),
        parts.next().unwrap_or("Jan"),
        parts.next().unwrap_or("1970"),
        parts.next().unwrap_or("00:00:00"),
    );
    let month = MONTHS.iter().position(|m| *m == month).unwrap_or(0) + 1;
    format!("{year}-{month:02}-{day}T{time}.000Z")
}

/// Unix seconds as an HTTP date (IMF-fixdate, `Sat, 18 May 2024 02:40:00 GMT`).
pub fn http_date(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_759_300_000), "2025-10-01T06:26:40.000Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_759_313_045), "2025-10-01T10:04:05.000Z");
        assert_eq!(http_date(1_716_000_000), "Sat, 18 May 2024 02:40:00 GMT");
    }

    #[test]
    fn percent_round_trip() {
        assert_eq!(percent_encode("/a b?x=1"), "%2Fa%20b%3Fx%3D1");
        assert_eq!(percent_decode("%2Fa%20b+c", true).unwrap(), "/a b c");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%c3%28", false), None);
    }
}
