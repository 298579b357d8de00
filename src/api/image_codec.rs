//! Image decoding, resizing and re-encoding for `/api/image/*`: untrusted bytes decoded with
//! hard limits, resized per a [`Spec`] (never enlarged) and encoded as JPEG, PNG or WebP.
//!
//! Why: every poster and backdrop the frontend shows goes through here, so the work is bounded:
//! at most [`MAX_DECODE_PIXELS`] source pixels, two images processed at once ([`process`] takes
//! a permit), on the blocking pool.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

use super::image_spec::{Format, Spec, plan};

/// Largest source accepted, in pixels per side.
pub const MAX_DECODE_SIDE: u32 = 12_000;
/// Largest source accepted, in pixels.
pub const MAX_DECODE_PIXELS: u64 = 50_000_000;

/// Images decoded and encoded at the same time (the box has two cores).
static PERMITS: Semaphore = Semaphore::const_new(2);

/// Why an image could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not an image we can read, or exceed the limits.
    #[error("the source is not a readable image: {0}")]
    Decode(String),
    /// Encoding failed.
    #[error("the image could not be encoded: {0}")]
    Encode(String),
}

fn decode(bytes: &[u8]) -> Result<(DynamicImage, Option<ImageFormat>), CodecError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    let source = reader.format();
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_PIXELS * 4);
    reader.limits(limits);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if u64::from(w) * u64::from(h) > MAX_DECODE_PIXELS {
        return Err(CodecError::Decode("the image has too many pixels".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_PIXELS * 4);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    Ok((img, source))
}

fn encode(img: &DynamicImage, spec: &Spec) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let err = |e: image::ImageError| CodecError::Encode(e.to_string());
    match spec.format {
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
            if spec.format == Format::Png {
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
    Ok(out)
}

/// Resizes and re-encodes `bytes` per `spec` (synchronous; see [`process`]). The source is
/// returned unchanged when nothing would change: no resize, same format, default quality.
pub fn transform(bytes: &[u8], spec: &Spec) -> Result<Vec<u8>, CodecError> {
    let (img, source) = decode(bytes)?;
    let (sw, sh) = (img.width(), img.height());
    let ((ow, oh), crop) = plan(sw, sh, spec);
    if (ow, oh) == (sw, sh)
        && crop.is_none()
        && source == Some(spec.format.image_format())
        && spec.quality == 85
    {
        return Ok(bytes.to_vec());
    }
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
    encode(&img, spec)
}

/// [`transform`] on the blocking pool, at most two at a time.
pub async fn process(bytes: bytes::Bytes, spec: Spec) -> Result<Vec<u8>, CodecError> {
    let _permit = PERMITS
        .acquire()
        .await
        .map_err(|_| CodecError::Encode("image processing is shut down".into()))?;
    tokio::task::spawn_blocking(move || transform(&bytes, &spec))
        .await
        .map_err(|_| CodecError::Encode("image processing failed".into()))?
}
