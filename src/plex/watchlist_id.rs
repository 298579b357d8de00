//! What the frontend sends as a watchlist id, sorted out before anything reaches a provider.
//!
//! The frontend sends whatever id it has for an item (`tmdb://949`, `imdb://tt…`, a
//! `plex://movie/<hex>` guid, a bare Discover id, or a library ratingKey); Discover's
//! `actions/addToWatchlist` only takes its own 24-hex ratingKey. [`WatchlistId::parse`] accepts
//! only those shapes, so nothing unvalidated is ever spliced into a provider URL.

/// Movie or show, as the metadata provider's `type` (1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `type=1`.
    Movie,
    /// `type=2`.
    Show,
}

impl Kind {
    /// `movie`/`1` or `show`/`tv`/`2`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "movie" | "movies" | "1" => Some(Kind::Movie),
            "show" | "shows" | "tv" | "2" => Some(Kind::Show),
            _ => None,
        }
    }

    pub(super) fn number(self) -> &'static str {
        match self {
            Kind::Movie => "1",
            Kind::Show => "2",
        }
    }
}

/// An external id scheme the metadata provider matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `tmdb://<digits>` (movie and TV ids overlap).
    Tmdb,
    /// `imdb://tt<digits>`.
    Imdb,
    /// `tvdb://<digits>`.
    Tvdb,
}

impl Scheme {
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Scheme::Tmdb => "tmdb",
            Scheme::Imdb => "imdb",
            Scheme::Tvdb => "tvdb",
        }
    }
}

/// What the frontend sent as a watchlist id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchlistId {
    /// A Discover ratingKey (24 hex, lower case).
    Discover(String),
    /// An external id to match.
    External {
        /// Which scheme.
        scheme: Scheme,
        /// The id (digits, or `tt…` for IMDb).
        id: String,
    },
    /// A ratingKey in the user's Plex library.
    Library(String),
}

pub(super) fn is_discover_key(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn is_digits(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl WatchlistId {
    /// Sorts out an id as the frontend sends it (already percent-decoded).
    pub fn parse(raw: &str) -> Option<WatchlistId> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("plex://") {
            // plex://movie/<hex>, plex://show/<hex>, plex://episode/<hex>, …
            let (kind, key) = rest.split_once('/')?;
            let kind_ok = ["movie", "show", "season", "episode"].contains(&kind);
            return (kind_ok && is_discover_key(key))
                .then(|| WatchlistId::Discover(key.to_ascii_lowercase()));
        }
        let raw = raw.strip_prefix("plex:").unwrap_or(raw);
        if is_discover_key(raw) {
            return Some(WatchlistId::Discover(raw.to_ascii_lowercase()));
        }
        if is_digits(raw, 12) {
            return Some(WatchlistId::Library(raw.to_string()));
        }
        let (scheme, rest) = raw.split_once("://")?;
        let scheme = match scheme {
            "tmdb" | "themoviedb" | "com.plexapp.agents.themoviedb" => Scheme::Tmdb,
            "imdb" | "com.plexapp.agents.imdb" => Scheme::Imdb,
            "tvdb" | "thetvdb" | "com.plexapp.agents.thetvdb" => Scheme::Tvdb,
            _ => return None,
        };
        // Legacy agent guids carry `?lang=…` and, for TV, `/season/episode`.
        let id = rest.split(['?', '/']).next().unwrap_or("");
        let valid = match scheme {
            Scheme::Imdb => id
                .strip_prefix("tt")
                .is_some_and(|digits| is_digits(digits, 12)),
            Scheme::Tmdb | Scheme::Tvdb => is_digits(id, 12),
        };
        valid.then(|| WatchlistId::External {
            scheme,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_frontend_sends() {
        let hex = "5d776b59ad5437001f79c6f8";
        assert_eq!(
            WatchlistId::parse(&format!("plex://movie/{hex}")),
            Some(WatchlistId::Discover(hex.into()))
        );
        assert_eq!(
            WatchlistId::parse(&format!("plex:{}", hex.to_uppercase())),
            Some(WatchlistId::Discover(hex.into()))
        );
        assert_eq!(
            WatchlistId::parse("tmdb://949"),
            Some(WatchlistId::External {
                scheme: Scheme::Tmdb,
                id: "949".into()
            })
        );
        assert_eq!(
            WatchlistId::parse("com.plexapp.agents.imdb://tt0113277?lang=en"),
            Some(WatchlistId::External {
                scheme: Scheme::Imdb,
                id: "tt0113277".into()
            })
        );
        assert_eq!(
            WatchlistId::parse("com.plexapp.agents.thetvdb://81189/1/1?lang=en"),
            Some(WatchlistId::External {
                scheme: Scheme::Tvdb,
                id: "81189".into()
            })
        );
        assert_eq!(
            WatchlistId::parse("plex:101"),
            Some(WatchlistId::Library("101".into()))
        );
        for bad in [
            "",
            "tmdb://94x9",
            "imdb://0113277",
            "plex://movie/../../x",
            "http://evil/x",
            "tmdb://949&X-Plex-Token=1",
            "5d776b59ad5437001f79c6f",
        ] {
            assert_eq!(WatchlistId::parse(bad), None, "{bad}");
        }
    }
}
