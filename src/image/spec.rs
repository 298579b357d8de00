//! What a caller of `/api/image/*` asks for: the `w`/`h`/`q`/`f`/`fit` parameters of contract
//! §3.3, parsed into a closed [`Spec`], and [`plan`], the output size for a source size.
//!
//! Why a closed set: the format parameter names an encoder, never a file (the Express backend
//! used it as a file extension, which read and wrote arbitrary files). Output is never larger
//! than the source, and at most [`MAX_SIDE`] a side.
//!
//! Notes: `q` (default `image.quality`) is the lossy encoder's quality. The `image` crate's
//! WebP encoder is lossless only, so `f=webp` is answered as a lossy JPEG unless the image has
//! transparency (then lossless WebP); `<img>` shows either, and a lossless WebP poster was 3.6
//! times the JPEG's size. `contain` fits inside the box without letterboxing (like `inside`).

use image::ImageFormat;

use crate::http::ApiError;
use crate::plex::client::Query;

/// Largest requested output side.
pub const MAX_SIDE: u32 = 4096;

/// Output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `image/jpeg` (the default).
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/webp` (lossless, for images with transparency; see the module notes).
    Webp,
}

impl Format {
    /// The `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }

    /// The name used in cache keys.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// The format of a decoded source, when a browser can be sent it as it is.
    pub(super) fn of_source(format: ImageFormat) -> Option<Format> {
        match format {
            ImageFormat::Jpeg => Some(Format::Jpeg),
            ImageFormat::Png => Some(Format::Png),
            ImageFormat::WebP => Some(Format::Webp),
            _ => None,
        }
    }
}

/// How the image is fitted into `w`×`h` when both are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fill the box, cropping the overflow (the default).
    Cover,
    /// Fit inside the box (no letterbox).
    Contain,
    /// Stretch to the box.
    Fill,
    /// Fit inside the box.
    Inside,
    /// Cover the box without cropping.
    Outside,
}

impl Fit {
    /// The name used in cache keys.
    pub fn name(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Fill => "fill",
            Fit::Inside => "inside",
            Fit::Outside => "outside",
        }
    }
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Target width.
    pub width: Option<u32>,
    /// Target height.
    pub height: Option<u32>,
    /// Lossy (JPEG) quality, 1–100.
    pub quality: u8,
    /// Output format.
    pub format: Format,
    /// Fit when both sides are given.
    pub fit: Fit,
}

impl Spec {
    /// Parses `w`, `h`, `q` (`default_quality` when absent), `f` and `fit`; each bad value is
    /// a 400 naming the parameter.
    pub fn parse(query: &Query, default_quality: u8) -> Result<Spec, ApiError> {
        let get = |n: &str| query.get(n).map(str::trim).filter(|v| !v.is_empty());
        let side = |n: &str| -> Result<Option<u32>, ApiError> {
            match get(n) {
                None => Ok(None),
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|x| (1..=MAX_SIDE).contains(x))
                    .map(Some)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_image_size",
                            format!("{n} must be a whole number from 1 to {MAX_SIDE}"),
                        )
                    }),
            }
        };
        let quality = match get("q") {
            None => default_quality,
            Some(v) => v
                .parse::<u8>()
                .ok()
                .filter(|q| (1..=100).contains(q))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_quality", "q must be a number from 1 to 100")
                })?,
        };
        let format = match get("f").map(str::to_ascii_lowercase).as_deref() {
            None | Some("jpeg" | "jpg") => Format::Jpeg,
            Some("png") => Format::Png,
            Some("webp") => Format::Webp,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_format",
                    "f must be jpeg, png or webp",
                ));
            }
        };
        let fit = match get("fit") {
            None | Some("cover") => Fit::Cover,
            Some("contain") => Fit::Contain,
            Some("fill") => Fit::Fill,
            Some("inside") => Fit::Inside,
            Some("outside") => Fit::Outside,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_fit",
                    "fit must be cover, contain, fill, inside or outside",
                ));
            }
        };
        Ok(Spec {
            width: side("w")?,
            height: side("h")?,
            quality,
            format,
            fit,
        })
    }

    /// A cache-key fragment naming every parameter.
    pub fn key(&self) -> String {
        format!(
            "{}x{}:q{}:{}:{}",
            self.width.unwrap_or(0),
            self.height.unwrap_or(0),
            self.quality,
            self.format.name(),
            self.fit.name()
        )
    }
}

/// Output size and, for `cover`, the crop box, for a `sw`×`sh` source. Never larger than the
/// source on either side.
pub fn plan(sw: u32, sh: u32, spec: &Spec) -> ((u32, u32), Option<(u32, u32)>) {
    let (fw, fh) = (f64::from(sw.max(1)), f64::from(sh.max(1)));
    let scaled = |s: f64| {
        let s = s.min(1.0);
        (
            ((fw * s).round() as u32).clamp(1, sw.max(1)),
            ((fh * s).round() as u32).clamp(1, sh.max(1)),
        )
    };
    match (spec.width, spec.height) {
        (None, None) => ((sw, sh), None),
        (Some(w), None) => (scaled(f64::from(w) / fw), None),
        (None, Some(h)) => (scaled(f64::from(h) / fh), None),
        (Some(w), Some(h)) => {
            let (rw, rh) = (f64::from(w) / fw, f64::from(h) / fh);
            match spec.fit {
                Fit::Fill => ((w.min(sw), h.min(sh)), None),
                Fit::Inside | Fit::Contain => (scaled(rw.min(rh)), None),
                Fit::Outside => (scaled(rw.max(rh)), None),
                Fit::Cover => {
                    let (ow, oh) = scaled(rw.max(rh));
                    ((ow, oh), Some((w.min(ow), h.min(oh))))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: Option<u32>, h: Option<u32>, fit: Fit) -> Spec {
        Spec {
            width: w,
            height: h,
            quality: 85,
            format: Format::Jpeg,
            fit,
        }
    }

    #[test]
    fn never_enlarges_and_keeps_the_aspect() {
        assert_eq!(
            plan(300, 450, &spec(Some(150), None, Fit::Cover)).0,
            (150, 225)
        );
        assert_eq!(
            plan(300, 450, &spec(None, Some(90), Fit::Cover)).0,
            (60, 90)
        );
        assert_eq!(
            plan(300, 450, &spec(Some(600), None, Fit::Cover)).0,
            (300, 450)
        );
        assert_eq!(
            plan(300, 450, &spec(Some(9999), Some(9999), Fit::Fill)).0,
            (300, 450)
        );
        assert_eq!(
            plan(300, 450, &spec(Some(100), Some(100), Fit::Cover)),
            ((100, 150), Some((100, 100)))
        );
        assert_eq!(
            plan(300, 450, &spec(Some(100), Some(100), Fit::Inside)).0,
            (67, 100)
        );
        assert_eq!(
            plan(300, 450, &spec(Some(100), Some(100), Fit::Outside)).0,
            (100, 150)
        );
        assert_eq!(
            plan(300, 450, &spec(Some(100), Some(100), Fit::Fill)).0,
            (100, 100)
        );
    }

    #[test]
    fn parses_and_refuses_parameters() {
        let q = |s: &str| Query::passthrough(Some(s), &[]);
        let s = Spec::parse(&q("w=10&h=20&q=50&f=webp&fit=inside"), 80).unwrap();
        assert_eq!(s.key(), "10x20:q50:webp:inside");
        assert_eq!(Spec::parse(&q("f=JPG"), 80).unwrap().format, Format::Jpeg);
        assert_eq!(Spec::parse(&q("w=1"), 72).unwrap().quality, 72);
        for bad in [
            "w=0",
            "w=5000",
            "h=x",
            "q=0",
            "q=101",
            "f=gif",
            "f=../../etc/passwd",
            "fit=crop",
        ] {
            assert!(Spec::parse(&q(bad), 80).is_err(), "{bad}");
        }
    }
}
