//! A liveness burst as kycd stores it: the challenge the server issued and the JPEG
//! frames the browser sent for it, in capture order, in one blob (encrypted like every
//! capture). The server writes the container after checking the upload, so processing
//! reads the steps the person was asked for from the capture itself, never from the client.
//!
//! Layout: the magic `KYCDBURST1`, a big-endian `u32` length and that many bytes of JSON
//! header (`{"challenge_id", "steps", "frames"}`), then per frame a big-endian `u32`
//! length and the JPEG bytes.

use crate::liveness::{MIN_FRAMES, Step};
use crate::{ImageError, ImageLimits, decode, sniff};
use kycd_core::MediaType;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"KYCDBURST1";

/// Most frames one burst may carry (the capture page sends 12 to 16; a burst of 40 frames
/// at 640×480 is still a few MB).
pub const MAX_FRAMES: usize = 40;
/// Smallest frame accepted: 640×480, either way up (docs/capture.md).
pub const MIN_LONG_SIDE: u32 = 640;
pub const MIN_SHORT_SIDE: u32 = 480;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    challenge_id: String,
    steps: Vec<String>,
    frames: usize,
}

/// A burst: the challenge's id and steps, and the frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub challenge_id: String,
    pub steps: Vec<Step>,
    pub frames: Vec<Vec<u8>>,
}

/// Why an upload is not a usable burst: said so the client knows what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BurstError {
    #[error(
        "the burst has {0} frame(s): send at least {MIN_FRAMES} and at most {MAX_FRAMES} JPEG frames (multipart fields `file`, in capture order) while the person follows the challenge"
    )]
    FrameCount(usize),
    #[error("frame {index} is not a JPEG image: send every frame as a JPEG (e.g. canvas.toBlob(…, 'image/jpeg'))")]
    NotJpeg { index: usize },
    #[error("frame {index} is {width}×{height} pixels: frames must be at least {MIN_LONG_SIDE}×{MIN_SHORT_SIDE}")]
    TooSmall { index: usize, width: u32, height: u32 },
    #[error("frame {index}: {error}")]
    Image { index: usize, error: ImageError },
    #[error("the stored burst is damaged: {0}")]
    Corrupt(String),
}

impl BurstError {
    /// The image error behind a frame's refusal (the upload answers its status), if any.
    pub fn image_error(&self) -> Option<&ImageError> {
        match self {
            Self::Image { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Check uploaded frames once, at the edge: their number, that each is a JPEG that
/// decodes within `limits`, and at least 640×480. Returns the first frame's size.
pub fn validate_frames(frames: &[Vec<u8>], limits: ImageLimits) -> Result<(u32, u32), BurstError> {
    if !(MIN_FRAMES..=MAX_FRAMES).contains(&frames.len()) {
        return Err(BurstError::FrameCount(frames.len()));
    }
    let mut first = (0, 0);
    for (index, bytes) in frames.iter().enumerate() {
        match sniff(bytes) {
            Ok(MediaType::Jpeg) => {}
            Ok(_) | Err(ImageError::UnsupportedType | ImageError::Empty) => return Err(BurstError::NotJpeg { index }),
            Err(error) => return Err(BurstError::Image { index, error }),
        }
        let img = decode::decode_full(bytes, limits).map_err(|error| BurstError::Image { index, error })?;
        let (width, height) = (img.width(), img.height());
        if width.max(height) < MIN_LONG_SIDE || width.min(height) < MIN_SHORT_SIDE {
            return Err(BurstError::TooSmall { index, width, height });
        }
        if index == 0 {
            first = (width, height);
        }
    }
    Ok(first)
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], BurstError> {
    if bytes.len() < n {
        return Err(BurstError::Corrupt(format!("{what} is cut short")));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_len(bytes: &mut &[u8], what: &str) -> Result<usize, BurstError> {
    let b = take(bytes, 4, what)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

impl Burst {
    /// The container's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            challenge_id: self.challenge_id.clone(),
            steps: self.steps.iter().map(|s| s.as_str().to_owned()).collect(),
            frames: self.frames.len(),
        };
        // A struct of strings and a number always serialises.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + self.frames.iter().map(|f| f.len() + 4).sum::<usize>());
        out.extend_from_slice(MAGIC);
        for part in std::iter::once(&header).chain(&self.frames) {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Read a container written by [`Self::encode`].
    pub fn parse(mut bytes: &[u8]) -> Result<Self, BurstError> {
        if take(&mut bytes, MAGIC.len(), "the magic")? != MAGIC {
            return Err(BurstError::Corrupt("it does not start with KYCDBURST1".into()));
        }
        let n = take_len(&mut bytes, "the header length")?;
        let header: Header =
            serde_json::from_slice(take(&mut bytes, n, "the header")?).map_err(|e| BurstError::Corrupt(format!("header: {e}")))?;
        let steps = header
            .steps
            .iter()
            .map(|s| s.parse::<Step>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(BurstError::Corrupt)?;
        if header.frames > MAX_FRAMES {
            return Err(BurstError::Corrupt(format!("{} frames", header.frames)));
        }
        let mut frames = Vec::with_capacity(header.frames);
        for i in 0..header.frames {
            let n = take_len(&mut bytes, &format!("frame {i}'s length"))?;
            frames.push(take(&mut bytes, n, &format!("frame {i}"))?.to_vec());
        }
        if !bytes.is_empty() {
            return Err(BurstError::Corrupt(format!("{} bytes follow the last frame", bytes.len())));
        }
        Ok(Self {
            challenge_id: header.challenge_id,
            steps,
            frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        // As kycd-testkit's `as_jpeg` (a unit test here cannot use the testkit).
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&image::RgbImage::from_pixel(w, h, image::Rgb([90, 120, 150])))
            .unwrap();
        out
    }

    #[test]
    fn a_burst_round_trips_and_damage_is_refused() {
        let b = Burst {
            challenge_id: "lch_abc".into(),
            steps: vec![Step::Left, Step::Up],
            frames: vec![vec![0xff, 0xd8, 1], vec![], vec![7; 300]],
        };
        let bytes = b.encode();
        assert_eq!(Burst::parse(&bytes).unwrap(), b);
        for cut in [0, 5, MAGIC.len() + 2, bytes.len() - 1] {
            assert!(matches!(Burst::parse(&bytes[..cut]), Err(BurstError::Corrupt(_))), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Burst::parse(&longer).is_err());
        assert!(Burst::parse(b"KYCDBURST2\0\0\0\0").is_err());
    }

    #[test]
    fn frames_are_counted_sniffed_and_measured() {
        let limits = ImageLimits::default();
        let good = jpeg(640, 480);
        let ten = vec![good.clone(); MIN_FRAMES];
        assert_eq!(validate_frames(&ten, limits), Ok((640, 480)));
        assert_eq!(validate_frames(&ten[..9], limits), Err(BurstError::FrameCount(9)));
        assert_eq!(
            validate_frames(&vec![good.clone(); MAX_FRAMES + 1], limits),
            Err(BurstError::FrameCount(MAX_FRAMES + 1))
        );
        let mut png = ten.clone();
        let mut p = Vec::new();
        image::RgbImage::new(640, 480)
            .write_to(&mut std::io::Cursor::new(&mut p), image::ImageFormat::Png)
            .unwrap();
        png[3] = p;
        assert_eq!(validate_frames(&png, limits), Err(BurstError::NotJpeg { index: 3 }));
        let mut small = ten.clone();
        small[9] = jpeg(320, 240);
        assert_eq!(
            validate_frames(&small, limits),
            Err(BurstError::TooSmall {
                index: 9,
                width: 320,
                height: 240
            })
        );
        let mut cut = ten;
        cut[2].truncate(200);
        assert!(matches!(validate_frames(&cut, limits), Err(BurstError::Image { index: 2, .. })));
    }
}
