//! Image decoding, resizing and re-encoding for `/api/image/*`: untrusted bytes decoded with
//! hard limits, resized per a [`Spec`] (never enlarged) and encoded as JPEG, PNG or WebP.
//!
//! Output is lossy where it can be: JPEG at the spec's quality, also for `f=webp` when the
//! image is opaque (the `image` crate's WebP encoder is lossless only; a lossy WebP crate
//! would build libwebp from C). An answer is never larger than its source: when no resize
//! was asked and the re-encode is not smaller, the source bytes go out as they came.
//!
//! Why: every poster and backdrop the frontend shows goes through here, so the work is bounded.
//! A source is refused from its header alone when it has more than `image.max_pixels` pixels or
//! a side over [`MAX_DECODE_SIDE`] (a 190 KB PNG can claim 49 megapixels); the decoder may then
//! allocate at most 4 bytes per allowed pixel; and two images are processed at once on the
//! blocking pool. The permit for that lives *in* the blocking task: held by the request future,
//! it was given back when the request was cancelled while the decode ran on, so five cancelled
//! requests for one huge PNG reached 2.86 GB.

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

use super::spec::{Format, Spec, plan};

/// Largest source accepted, in pixels per side (the area is bounded by `image.max_pixels`).
pub const MAX_DECODE_SIDE: u32 = 12_000;
/// What the decoder may allocate per allowed pixel: RGBA, 8 bits a channel. A 16-bit source
/// therefore gets half the pixels, which no poster needs.
const DECODE_BYTES_PER_PIXEL: u64 = 4;
/// Images decoded and encoded at the same time (the box has two cores).
const CONCURRENT: usize = 2;

fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| Arc::new(Semaphore::new(CONCURRENT)))
        .clone()
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Images being decoded or encoded right now, on the blocking pool (for tests and metrics).
pub fn running() -> usize {
    RUNNING.load(Ordering::SeqCst)
}

/// Counts one piece of blocking work in [`running`] while alive.
struct Running;

impl Running {
    fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why an image could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The source has more pixels (or a longer side) than this server decodes.
    #[error(
        "the image is larger than this server decodes ({max_pixels} pixels, {MAX_DECODE_SIDE} a side)"
    )]
    TooLarge {
        /// `image.max_pixels`.
        max_pixels: u64,
    },
    /// The bytes are not an image we can read, or exceed the limits.
    #[error("the source is not a readable image: {0}")]
    Decode(String),
    /// Encoding failed.
    #[error("the image could not be encoded: {0}")]
    Encode(String),
}

/// A reader for `bytes` whose decoder may allocate no more than `max_pixels` allow.
fn reader(bytes: &[u8], max_pixels: u64) -> Result<ImageReader<Cursor<&[u8]>>, CodecError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(max_pixels.saturating_mul(DECODE_BYTES_PER_PIXEL));
    reader.limits(limits);
    Ok(reader)
}

fn decode_error(e: image::ImageError, max_pixels: u64) -> CodecError {
    match e {
        image::ImageError::Limits(_) => CodecError::TooLarge { max_pixels },
        other => CodecError::Decode(other.to_string()),
    }
}

/// Width and height read from the header alone (no pixel is decoded); more than `max_pixels`
/// pixels or [`MAX_DECODE_SIDE`] a side is [`CodecError::TooLarge`].
pub fn dimensions(bytes: &[u8], max_pixels: u64) -> Result<(u32, u32), CodecError> {
    let (w, h) = reader(bytes, max_pixels)?
        .into_dimensions()
        .map_err(|e| decode_error(e, max_pixels))?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(CodecError::TooLarge { max_pixels });
    }
    Ok((w, h))
}

fn decode(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<(DynamicImage, Option<ImageFormat>), CodecError> {
    dimensions(bytes, max_pixels)?;
    let reader = reader(bytes, max_pixels)?;
    let source = reader.format();
    let img = reader.decode().map_err(|e| decode_error(e, max_pixels))?;
    Ok((img, source))
}

/// An encoded image and its format, which is not always the one asked for (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// What they are.
    pub format: Format,
}

fn encode(img: &DynamicImage, spec: &Spec) -> Result<Encoded, CodecError> {
    let mut out = Vec::new();
    let err = |e: image::ImageError| CodecError::Encode(e.to_string());
    let format = match spec.format {
        Format::Webp if !img.color().has_alpha() => Format::Jpeg,
        asked => asked,
    };
    match format {
        Format::Jpeg => {
            let rgb = img.to_rgb8();
            JpegEncoder::new_with_quality(&mut out, spec.quality)
                .write_image(&rgb, rgb.width(), rgb.height(), ExtendedColorType::Rgb8)
                .map_err(err)?;
        }
        Format::Png | Format::Webp => {
            let has_alpha = img.color().has_alpha();
            let (buf, color, w, h) = if has_alpha {
                let rgba = img.to_rgba8();
                let (w, h) = rgba.dimensions();
                (rgba.into_raw(), ExtendedColorType::Rgba8, w, h)
            } else {
                let rgb = img.to_rgb8();
                let (w, h) = rgb.dimensions();
                (rgb.into_raw(), ExtendedColorType::Rgb8, w, h)
            };
            if format == Format::Png {
                PngEncoder::new(&mut out)
                    .write_image(&buf, w, h, color)
                    .map_err(err)?;
            } else {
                WebPEncoder::new_lossless(&mut out)
                    .write_image(&buf, w, h, color)
                    .map_err(err)?;
            }
        }
    }
    Ok(Encoded { bytes: out, format })
}

/// Resizes and re-encodes `bytes` per `spec` (synchronous; see [`process`]). Without a resize,
/// a re-encode that is not smaller than the source gives way to the source itself.
pub fn transform(bytes: &[u8], spec: &Spec, max_pixels: u64) -> Result<Encoded, CodecError> {
    let (img, source) = decode(bytes, max_pixels)?;
    let (sw, sh) = (img.width(), img.height());
    let ((ow, oh), crop) = plan(sw, sh, spec);
    let resized = (ow, oh) != (sw, sh) || crop.is_some_and(|c| c != (ow, oh));
    let mut img = if (ow, oh) == (sw, sh) {
        img
    } else {
        img.resize_exact(ow, oh, FilterType::Triangle)
    };
    if let Some((cw, ch)) = crop
        && (cw, ch) != (ow, oh)
    {
        img = img.crop_imm((ow - cw) / 2, (oh - ch) / 2, cw, ch);
    }
    let out = encode(&img, spec)?;
    if !resized
        && out.bytes.len() >= bytes.len()
        && let Some(format) = source.and_then(Format::of_source)
    {
        return Ok(Encoded {
            bytes: bytes.to_vec(),
            format,
        });
    }
    Ok(out)
}

/// [`transform`] on the blocking pool, at most two at a time. A source over `max_pixels` is
/// refused from its header before it waits for a turn.
pub async fn process(
    bytes: bytes::Bytes,
    spec: Spec,
    max_pixels: u64,
) -> Result<Encoded, CodecError> {
    dimensions(&bytes, max_pixels)?;
    let permit = permits()
        .acquire_owned()
        .await
        .map_err(|_| CodecError::Encode("image processing is shut down".into()))?;
    tokio::task::spawn_blocking(move || {
        // Held until the work ends, even if the request that asked for it is gone.
        let _permit = permit;
        let _running = Running::start();
        transform(&bytes, &spec, max_pixels)
    })
    .await
    .map_err(|_| CodecError::Encode("image processing failed".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plex::client::Query;

    fn width(w: u32) -> Spec {
        Spec::parse(&Query::passthrough(Some(&format!("w={w}")), &[]), 80).unwrap()
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(
                &vec![0u8; w as usize * h as usize],
                w,
                h,
                ExtendedColorType::L8,
            )
            .unwrap();
        out
    }

    fn spec(query: &str) -> Spec {
        Spec::parse(&Query::passthrough(Some(query), &[]), 80).unwrap()
    }

    /// A noisy photo-like image, so encoders have something to lose.
    fn photo(w: u32, h: u32, alpha: bool) -> DynamicImage {
        let mut seed = 7u32;
        let mut noise = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as u8
        };
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            let n = noise() / 4;
            let a = if alpha && x < w / 2 { 0 } else { 255 };
            image::Rgba([
                ((x * 200 / w) as u8).wrapping_add(n / 2),
                (y * 255 / h) as u8,
                n,
                a,
            ])
        });
        if alpha {
            DynamicImage::ImageRgba8(img)
        } else {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).to_rgb8())
        }
    }

    fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn webp_of_an_opaque_image_is_a_lossy_jpeg_far_smaller_than_lossless() {
        let source = encoded(&photo(600, 900, false), ImageFormat::Png);
        let lossless = transform(&source, &spec("w=342&f=png"), 40_000_000).unwrap();
        let lossy = transform(&source, &spec("w=342&f=webp"), 40_000_000).unwrap();
        assert_eq!(lossy.format, Format::Jpeg);
        assert_eq!(image::load_from_memory(&lossy.bytes).unwrap().width(), 342);
        assert!(lossy.bytes.len() * 2 < lossless.bytes.len());
        let low = transform(&source, &spec("w=342&f=webp&q=30"), 40_000_000).unwrap();
        assert!(low.bytes.len() < lossy.bytes.len(), "quality is honoured");
    }

    #[test]
    fn transparency_keeps_lossless_webp() {
        let source = encoded(&photo(200, 300, true), ImageFormat::Png);
        let out = transform(&source, &spec("w=100&f=webp"), 40_000_000).unwrap();
        assert_eq!(out.format, Format::Webp);
        let back = image::load_from_memory(&out.bytes).unwrap();
        assert!(back.color().has_alpha());
    }

    #[test]
    fn without_a_resize_the_answer_is_never_larger_than_the_source() {
        // A JPEG made at quality 10 re-encodes larger at 95: the source goes out instead.
        let img = photo(300, 450, false);
        let mut small = Vec::new();
        JpegEncoder::new_with_quality(&mut small, 10)
            .encode_image(&img)
            .unwrap();
        let out = transform(&small, &spec("w=342&q=95"), 40_000_000).unwrap();
        assert_eq!(
            out,
            Encoded {
                bytes: small.clone(),
                format: Format::Jpeg
            }
        );
        let webp = transform(&small, &spec("f=webp&q=95"), 40_000_000).unwrap();
        assert_eq!(webp.bytes, small);
        // A smaller re-encode is taken, and a resize is always done.
        let big = encoded(&img, ImageFormat::Png);
        let out = transform(&big, &spec("f=jpeg"), 40_000_000).unwrap();
        assert!(out.bytes.len() < big.len() && out.format == Format::Jpeg);
        let resized = transform(&small, &spec("w=100&q=95"), 40_000_000).unwrap();
        assert_eq!(
            image::load_from_memory(&resized.bytes).unwrap().width(),
            100
        );
    }

    #[test]
    fn too_many_pixels_or_too_long_a_side_is_refused_from_the_header() {
        let img = png(1200, 1000);
        assert_eq!(dimensions(&img, 2_000_000).unwrap(), (1200, 1000));
        assert!(matches!(
            dimensions(&img, 1_000_000),
            Err(CodecError::TooLarge {
                max_pixels: 1_000_000
            })
        ));
        assert!(matches!(
            transform(&img, &width(10), 1_000_000),
            Err(CodecError::TooLarge { .. })
        ));
        let out = transform(&img, &width(12), 2_000_000).unwrap();
        assert_eq!(image::load_from_memory(&out.bytes).unwrap().width(), 12);
        let long = png(MAX_DECODE_SIDE + 1, 1);
        assert!(matches!(
            dimensions(&long, 40_000_000),
            Err(CodecError::TooLarge { .. })
        ));
    }
}
