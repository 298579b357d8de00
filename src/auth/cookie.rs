//! Reading and writing the `plex.sid` cookie.

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};

/// The cookie name the Flixor frontend and the Express backend use.
pub const NAME: &str = "plex.sid";

/// The cookie that binds a sign-in PIN to the browser that created it.
pub const PIN_NAME: &str = "plex.pin";

/// How long a pin cookie lives: plex.tv PINs expire well before this.
pub const PIN_MAX_AGE_SECS: i64 = 1800;

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

use crate::config::SameSite;

/// How the cookie is scoped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    /// Send only over HTTPS.
    pub secure: bool,
    /// `SameSite`; `None` is only honoured with `Secure` (browsers reject it otherwise).
    pub same_site: SameSite,
}

/// `Set-Cookie` for a session cookie valid `max_age_secs`.
pub fn set(value: &str, max_age_secs: i64, attrs: Attributes) -> HeaderValue {
    let mut s = format!("{NAME}={value}; Path=/; HttpOnly; Max-Age={max_age_secs}");
    push_attrs(&mut s, attrs);
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("plex.sid=; Path=/"))
}

/// `Set-Cookie` for the pin cookie (`value` empty and `max_age_secs` 0 clear it).
pub fn set_pin(value: &str, max_age_secs: i64, attrs: Attributes) -> HeaderValue {
    let mut s = format!("{PIN_NAME}={value}; Path=/; HttpOnly; Max-Age={max_age_secs}");
    push_attrs(&mut s, attrs);
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("plex.pin=; Path=/"))
}

/// `Set-Cookie` that clears the session cookie with the same scope it was set with.
pub fn clear(attrs: Attributes) -> HeaderValue {
    let mut s = format!("{NAME}=; Path=/; HttpOnly; Max-Age=0");
    push_attrs(&mut s, attrs);
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("plex.sid=; Path=/"))
}

fn push_attrs(s: &mut String, attrs: Attributes) {
    s.push_str(match attrs.same_site {
        SameSite::None if attrs.secure => "; SameSite=None",
        SameSite::Strict => "; SameSite=Strict",
        _ => "; SameSite=Lax",
    });
    if attrs.secure {
        s.push_str("; Secure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; plex.sid=abc; b=2".parse().unwrap());
        assert_eq!(read(&h, NAME), Some("abc"));
        assert_eq!(read(&h, "zzz"), None);
    }

    #[test]
    fn secure_and_same_site() {
        let v = set(
            "x",
            60,
            Attributes {
                secure: true,
                same_site: SameSite::None,
            },
        );
        assert_eq!(
            v,
            "plex.sid=x; Path=/; HttpOnly; Max-Age=60; SameSite=None; Secure"
        );
        let v = set(
            "x",
            60,
            Attributes {
                secure: false,
                same_site: SameSite::None,
            },
        );
        assert_eq!(v, "plex.sid=x; Path=/; HttpOnly; Max-Age=60; SameSite=Lax");
    }
}
