//! xs:duration values dash-mpd-core cannot take.
//!
//! Why: dash-mpd-core 0.1 turns a duration attribute (`mediaPresentationDuration="PT…H"`, `@start`,
//! `@duration`, …) into seconds with unchecked `u64` arithmetic, so a component of more than ~11
//! digits overflows: a panic where overflow checks are on (debug builds, tests, fuzzing), a
//! silently wrapped value in release. Found by the `dash` fuzz target. [`validate_mpd`] refuses such
//! an MPD before handing it to the validator; no real MPD has a duration of centuries.
//!
//! [`validate_mpd`]: super::validate_mpd

use quick_xml::events::BytesStart;

use super::RewriteError;
use super::xml::{XML_WS, bad, raw_attributes, unescape};

/// Significant digits an integer duration component may have: 10^10 years is far below the
/// overflow of `years * 31_536_000` and of the sum of all seven components.
const MAX_DIGITS: usize = 10;

/// Refuses an element with an attribute value shaped like an xs:duration whose integer part
/// would overflow. Attributes the scanner cannot read are left to the validator.
pub(crate) fn check_durations(e: &BytesStart<'_>) -> Result<(), RewriteError> {
    let body: &str = e;
    if !body.contains('P') {
        return Ok(());
    }
    let tag = format!("<{}>", body.trim_end_matches('/'));
    for attr in raw_attributes(&tag) {
        let Ok(attr) = attr else { break };
        let Ok(value) = unescape(&tag[attr.value]) else {
            continue;
        };
        if overflows(&value) {
            return Err(bad("duration out of range"));
        }
    }
    Ok(())
}

/// `[+-]P…` with an integer run of more than [`MAX_DIGITS`] significant digits (a fraction of a
/// second after `.` or `,` is only read to nanoseconds and cannot overflow).
fn overflows(value: &str) -> bool {
    let v = value.trim_matches(XML_WS);
    let v = v.strip_prefix(['+', '-']).unwrap_or(v);
    if !v.starts_with('P') {
        return false;
    }
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let fraction = matches!(b[start - 1], b'.' | b',');
        let significant = b[start..i].iter().skip_while(|d| **d == b'0').count();
        if !fraction && significant > MAX_DIGITS {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::validate_mpd;
    use super::*;

    fn mpd(duration: &str) -> String {
        format!(
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" \
             mediaPresentationDuration=\"{duration}\" minBufferTime=\"PT2S\">\
             <Period id=\"0\"><AdaptationSet><Representation id=\"0\" bandwidth=\"1\"/>\
             </AdaptationSet></Period></MPD>"
        )
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        // The fuzz target's input (fuzz/corpus/dash/crash_xs_duration_overflow), reduced: with
        // overflow checks on, dash-mpd-core panicked multiplying the hours.
        for d in [
            "PT00000000000000007429938585244124956H59M3.500S",
            "P99999999999Y",
            "PT18446744073709551615S",
            "-PT99999999999M",
            "P&#x39;9999999999W",
            " P12345678901D",
        ] {
            assert_eq!(
                validate_mpd(mpd(d).as_bytes()),
                Err(bad("duration out of range")),
                "{d}"
            );
        }
    }

    #[test]
    fn real_durations_still_validate() {
        for d in [
            "PT2H1M0S",
            "PT0S",
            "P1DT0.123456789123S",
            "PT9999999999S",
            "P0000000000000001Y",
        ] {
            assert_eq!(validate_mpd(mpd(d).as_bytes()), Ok(()), "{d}");
        }
        assert!(!overflows("P"));
        assert!(!overflows("urn:99999999999999"));
        assert!(overflows("P99999999999M"));
    }
}
