//! How large a rewritten manifest may grow: [`Bounded`] wraps the mapper of one rewrite, counts
//! what every mapped URI adds and stops the rewrite the moment the output would pass its budget.
//!
//! Why: a 16 MB playlist of short URIs became a 94 MB response with ~600 MB peak memory, because
//! every URI grows by the proxy prefix (which carries a ticket of some 200 characters). That
//! growth is legitimate — a real Plex media playlist of `00042.ts` lines grows about ten times —
//! so the budget is: four times the input, plus the mapper's own fixed growth per mapped URI
//! ([`MapUri::growth_hint`]: the prefix and the manifest's directory), and never more than
//! [`MAX_OUTPUT_BYTES`]. A manifest that repeats its own long text through URIs (a huge BaseURL
//! under thousands of segments) runs out of budget early; no manifest gets past the hard cap.
//! With the 8 MiB read limit and the line limit on HLS validation (m3u8-rs was the largest
//! allocation), one manifest response peaks at about 70 MB where it reached 1.3 GB.
//!
//! Must never: let the output pass [`MAX_OUTPUT_BYTES`] before the rewrite stops.

use std::cell::Cell;

use url::Url;

use super::{MapUri, RewriteError};

/// Largest rewritten manifest plexgate produces.
pub const MAX_OUTPUT_BYTES: usize = 32 << 20;
/// Output allowed per input byte, besides the mapper's growth per URI.
const GROWTH: usize = 4;

/// A mapper that charges every mapped URI against the output budget of one rewrite.
pub(crate) struct Bounded<'a, M: ?Sized> {
    inner: &'a M,
    input_len: usize,
    per_uri: usize,
    uris: Cell<usize>,
    mapped_bytes: Cell<usize>,
}

impl<'a, M: MapUri + ?Sized> Bounded<'a, M> {
    /// The budget for rewriting `input_len` bytes with `inner`.
    pub(crate) fn new(inner: &'a M, input_len: usize) -> Self {
        Bounded {
            per_uri: inner.growth_hint(),
            inner,
            input_len,
            uris: Cell::new(0),
            mapped_bytes: Cell::new(0),
        }
    }

    fn limit(&self) -> usize {
        self.input_len
            .saturating_mul(GROWTH)
            .saturating_add(self.uris.get().saturating_mul(self.per_uri))
            .min(MAX_OUTPUT_BYTES)
    }

    /// Counts one mapped URI of `len` bytes. The output never holds more than the input plus
    /// every mapped URI, so that sum is checked: nothing else can make it grow.
    fn charge(&self, len: usize) -> Result<(), RewriteError> {
        self.uris.set(self.uris.get() + 1);
        self.mapped_bytes
            .set(self.mapped_bytes.get().saturating_add(len));
        if self.input_len.saturating_add(self.mapped_bytes.get()) > self.limit() {
            return Err(RewriteError::TooLarge);
        }
        Ok(())
    }

    /// The final check on the real output size.
    pub(crate) fn check_total(&self, output_len: usize) -> Result<(), RewriteError> {
        if output_len > self.limit() {
            Err(RewriteError::TooLarge)
        } else {
            Ok(())
        }
    }
}

impl<M: MapUri + ?Sized> MapUri for Bounded<'_, M> {
    fn manifest_url(&self) -> &Url {
        self.inner.manifest_url()
    }

    fn map(&self, uri: &str, base: &Url) -> Result<String, RewriteError> {
        let mapped = self.inner.map(uri, base)?;
        self.charge(mapped.len())?;
        Ok(mapped)
    }

    fn map_into(&self, uri: &str, base: &Url, out: &mut String) -> Result<(), RewriteError> {
        let before = out.len();
        self.inner.map_into(uri, base, out)?;
        self.charge(out.len() - before)
    }

    fn growth_hint(&self) -> usize {
        self.per_uri
    }

    fn guard_token_leaks(&self) -> bool {
        self.inner.guard_token_leaks()
    }

    fn map_shared(&self, uri: &str, bases: &[&Url]) -> Result<String, RewriteError> {
        let mapped = self.inner.map_shared(uri, bases)?;
        self.charge(mapped.len())?;
        Ok(mapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::manifest::{rewrite_hls, rewrite_mpd};

    /// Maps every URI to `/` + `grow` bytes of prefix + the URI, and counts the calls.
    struct Grow {
        url: Url,
        grow: usize,
        hint: usize,
        calls: Cell<usize>,
    }

    impl MapUri for Grow {
        fn manifest_url(&self) -> &Url {
            &self.url
        }
        fn map(&self, uri: &str, _base: &Url) -> Result<String, RewriteError> {
            self.calls.set(self.calls.get() + 1);
            Ok(format!("/{}{uri}", "p".repeat(self.grow)))
        }
        fn growth_hint(&self) -> usize {
            self.hint
        }
    }

    fn grow(grow: usize, hint: usize) -> Grow {
        Grow {
            url: Url::parse("http://pms.test:32400/v/start.m3u8").unwrap(),
            grow,
            hint,
            calls: Cell::new(0),
        }
    }

    fn playlist(segments: usize) -> String {
        let mut p = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n");
        for i in 0..segments {
            p.push_str(&format!("#EXTINF:2.0,\n{i:05}.ts\n"));
        }
        p + "#EXT-X-ENDLIST\n"
    }

    #[test]
    fn growth_of_the_mappers_own_prefix_is_allowed() {
        // Like a real ticket prefix: each 27-byte segment entry grows by ~300 bytes (12×).
        let m = grow(300, 300);
        let input = playlist(2_000);
        let mut out = String::new();
        rewrite_hls(&input, &m, &mut out).unwrap();
        assert!(out.len() > 10 * input.len());
    }

    #[test]
    fn growth_beyond_the_budget_stops_the_rewrite_at_once() {
        // Each URI grows by 300 bytes while the mapper claims 10: the slack of four times the
        // input is used up by about 3 × input / 290 URIs, long before all 20,000 are mapped.
        let m = grow(300, 10);
        let input = playlist(20_000);
        let mut out = String::from("kept");
        assert_eq!(
            rewrite_hls(&input, &m, &mut out),
            Err(RewriteError::TooLarge)
        );
        assert_eq!(out, "kept", "nothing of a refused rewrite is kept");
        let excess = "/".len() + 300 + "00000.ts".len() - 10;
        assert!(
            m.calls.get() <= 3 * input.len() / excess + 1,
            "stopped after {} URIs",
            m.calls.get()
        );
    }

    #[test]
    fn no_rewrite_passes_the_hard_cap() {
        // Honest growth, but 200,000 URIs of 300 bytes: 60 MB. Stopped near 32 MiB.
        let m = grow(300, 300);
        let input = playlist(200_000);
        let mut out = String::new();
        assert_eq!(
            rewrite_hls(&input, &m, &mut out),
            Err(RewriteError::TooLarge)
        );
        let per_uri = "/".len() + 300 + "00000.ts".len();
        let at_cap = (MAX_OUTPUT_BYTES - input.len()) / per_uri;
        assert!(
            m.calls.get() <= at_cap + 1,
            "{} URIs mapped, the cap allows {at_cap}",
            m.calls.get()
        );
    }

    #[test]
    fn dash_is_bounded_the_same_way() {
        let m = grow(300, 10);
        let mut input = String::from("<MPD><Period><AdaptationSet><SegmentList>");
        for i in 0..20_000 {
            input.push_str(&format!("<SegmentURL media=\"{i}.m4s\"/>"));
        }
        input.push_str("</SegmentList></AdaptationSet></Period></MPD>");
        let mut out = String::new();
        assert_eq!(
            rewrite_mpd(&input, &m, &mut out),
            Err(RewriteError::TooLarge)
        );
        assert!(
            m.calls.get() < 10_000,
            "stopped after {} URIs",
            m.calls.get()
        );
    }
}
