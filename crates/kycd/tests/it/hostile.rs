//! Hostile inputs against the real server (issue 12, item 3): decompression bombs,
//! truncated and polyglot files, absurd EXIF, many tiny uploads, slow-loris clients,
//! oversized / deeply nested / duplicate-key / non-UTF-8 JSON and unicode tricks in names.
//! Each is answered with a clear 4xx (problem+json, or the dialect's error body), nothing
//! is stored, the server stays up (`/healthz` after each group) and its memory stays
//! bounded (VmRSS before and after, printed for docs/SECURITY.md).
//!
//! `bad_input.rs` covers the basic refusals (empty, text renamed .jpg, a 20 000² PNG, a
//! half JPEG, 200 MB); this file goes further and through the dialects too.

use crate::flow::{create_attempt, create_verification, data, verification_body};
use crate::harness::{Api, RawConn, Resp, Server, jpeg, png, png_claiming, str_field, webp};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous bound on how much the server's RSS may grow over one test.
const RSS_GROWTH_LIMIT_KIB: u64 = 400 * 1024;

/// VmRSS before and after a test, printed and bounded.
struct Rss {
    what: &'static str,
    start_kib: u64,
}

impl Rss {
    fn start(s: &Server, what: &'static str) -> Rss {
        let start_kib = s.rss_kib().unwrap_or(0);
        Rss { what, start_kib }
    }

    fn check(&self, s: &Server) {
        let Some(end) = s.rss_kib() else {
            println!("RSS {}: not measurable on this platform", self.what);
            return;
        };
        let grown = end.saturating_sub(self.start_kib);
        println!(
            "RSS {}: before {} MiB, after {} MiB, growth {} MiB (bound {} MiB)",
            self.what,
            self.start_kib / 1024,
            end / 1024,
            grown / 1024,
            RSS_GROWTH_LIMIT_KIB / 1024
        );
        assert!(
            grown < RSS_GROWTH_LIMIT_KIB,
            "{}: the server's RSS grew from {} KiB to {end} KiB",
            self.what,
            self.start_kib
        );
    }
}

async fn healthy(s: &Server, after: &str) {
    let r = s.client_unpooled("").get("/healthz").await;
    assert_eq!(r.status, 200, "after {after}: /healthz answered {} {}", r.status, r.text());
}

/// A 4xx, never a 5xx or a success: the body is problem+json with a detail.
fn refused(r: &Resp, status: u16, code: &str) -> Value {
    r.problem(status, code)
}

// ----- image builders -------------------------------------------------------------------

/// The VP8L chunk (header and payload) of a tiny lossless WebP.
fn vp8l_chunk() -> Vec<u8> {
    let w = webp(1, 1, 1);
    assert_eq!(&w[12..16], b"VP8L", "the encoder writes a simple lossless file");
    let len = u32::from_le_bytes(w[16..20].try_into().unwrap()) as usize;
    w[12..20 + len + (len & 1)].to_vec()
}

fn riff(chunks: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(chunks);
    out
}

/// An extended WebP whose VP8X canvas claims `w`×`h`, holding a 1×1 image.
fn webp_vp8x_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut vp8x = b"VP8X".to_vec();
    vp8x.extend_from_slice(&10u32.to_le_bytes());
    vp8x.extend_from_slice(&[0, 0, 0, 0]);
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&vp8l_chunk());
    riff(&vp8x)
}

/// A simple lossless WebP whose VP8L header claims `w`×`h` (at most 16 384 each).
fn webp_vp8l_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut chunk = vp8l_chunk();
    // Chunk header (8 bytes), signature 0x2f, then 14 bits width-1, 14 bits height-1,
    // 1 bit alpha, 3 bits version, little-endian.
    let at = 9;
    let old = u32::from_le_bytes(chunk[at..at + 4].try_into().unwrap());
    let bits = (old & 0xF000_0000) | ((h - 1) << 14) | (w - 1);
    chunk[at..at + 4].copy_from_slice(&bits.to_le_bytes());
    riff(&chunk)
}

/// A small baseline JPEG whose SOF0 claims `w`×`h`.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut j = jpeg(16, 16, 7);
    let sof = memchr::memmem::find(&j, &[0xFF, 0xC0]).expect("a baseline JPEG has SOF0");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

/// A JPEG with an APP1 EXIF segment holding `tiff` (a TIFF header and IFDs, written by hand).
fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let base = jpeg(320, 240, 9);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&base[2..]);
    out
}

/// Little-endian TIFF: header, then one IFD at offset 8 with `entries` (tag, type, count,
/// value/offset) and `declared` as its entry count.
fn tiff_ifd(declared: u16, entries: &[(u16, u16, u32, u32)], next_ifd: u32) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&declared.to_le_bytes());
    for &(tag, kind, count, value) in entries {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    }
    t.extend_from_slice(&next_ifd.to_le_bytes());
    t
}

/// The absurd EXIF blocks, each with what it tries.
fn absurd_exif() -> Vec<(&'static str, Vec<u8>)> {
    const ORIENTATION: u16 = 0x0112;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    let mut past_end_ifd = b"II*\0".to_vec();
    past_end_ifd.extend_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    vec![
        ("orientation 9999", tiff_ifd(1, &[(ORIENTATION, SHORT, 1, 9999)], 0)),
        ("orientation 0", tiff_ifd(1, &[(ORIENTATION, SHORT, 1, 0)], 0)),
        ("an IFD claiming 65 535 entries", tiff_ifd(0xFFFF, &[(ORIENTATION, SHORT, 1, 6)], 0)),
        ("the first IFD past the end", past_end_ifd),
        (
            "an orientation whose value lies past the end",
            tiff_ifd(1, &[(ORIENTATION, SHORT, 0x4000_0000, 0x7FFF_FFF0)], 0),
        ),
        (
            "a LONG array of 2^30 values",
            tiff_ifd(2, &[(0x0111, LONG, 0x4000_0000, 0x10), (ORIENTATION, SHORT, 1, 3)], 0),
        ),
        ("an IFD chain looping on itself", tiff_ifd(1, &[(ORIENTATION, SHORT, 1, 1)], 8)),
        ("a TIFF header only", b"II*\0".to_vec()),
        ("a big-endian header with garbage", b"MM\0*\xff\xff\xff\xff\x00".to_vec()),
    ]
}

/// A minimal ZIP archive (one stored file, central directory, end record).
fn tiny_zip() -> Vec<u8> {
    let name = b"a.html";
    let content = b"<script>alert(1)</script>";
    let mut z = b"PK\x03\x04".to_vec();
    z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked by anyone here)
    z.extend_from_slice(&(content.len() as u32).to_le_bytes());
    z.extend_from_slice(&(content.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(content);
    let cd_at = z.len() as u32;
    let mut cd = b"PK\x01\x02".to_vec();
    cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(&(content.len() as u32).to_le_bytes());
    cd.extend_from_slice(&(content.len() as u32).to_le_bytes());
    cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
    cd.extend_from_slice(&[0; 12]);
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(name);
    let cd_len = cd.len() as u32;
    z.extend_from_slice(&cd);
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_at.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// The decompression bombs: each tiny on the wire, each claiming far more than the limits.
fn bombs() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("PNG 60 000 × 60 000", "image/png", png_claiming(60_000, 60_000)),
        ("PNG 4 × 1 000 000 000", "image/png", png_claiming(4, 1_000_000_000)),
        ("WebP VP8X 60 000 × 60 000", "image/webp", webp_vp8x_claiming(60_000, 60_000)),
        ("WebP VP8X 16 777 216²", "image/webp", webp_vp8x_claiming(1 << 24, 1 << 24)),
        ("WebP VP8L 16 000 × 16 000", "image/webp", webp_vp8l_claiming(16_000, 16_000)),
        // image-webp wraps 16 384 to 0: refused as a header that declares 0×0.
        ("WebP VP8L 16 384 × 16 384", "image/webp", webp_vp8l_claiming(16_384, 16_384)),
        ("JPEG 60 000 × 60 000", "image/jpeg", jpeg_claiming(60_000, 60_000)),
        ("JPEG 65 535 × 65 535", "image/jpeg", jpeg_claiming(65_535, 65_535)),
    ]
}

fn truncated() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let j = jpeg(640, 480, 11);
    let p = png(640, 480, 12);
    let w = webp(640, 480, 13);
    vec![
        ("JPEG cut in half", "image/jpeg", j[..j.len() / 2].to_vec()),
        ("JPEG header only", "image/jpeg", j[..200].to_vec()),
        ("JPEG without its end marker", "image/jpeg", j[..j.len() - 2].to_vec()),
        ("PNG cut in half", "image/png", p[..p.len() / 2].to_vec()),
        ("PNG signature and IHDR only", "image/png", p[..33].to_vec()),
        ("PNG signature only", "image/png", p[..8].to_vec()),
        ("WebP cut in half", "image/webp", w[..w.len() / 2].to_vec()),
        ("WebP RIFF header only", "image/webp", w[..16].to_vec()),
    ]
}

struct Native {
    api: Api,
    vid: String,
}

impl Native {
    async fn new(s: &Server, name: &str) -> Native {
        let api = s.client_unpooled(&s.admin_key);
        let v = create_verification(&api, &verification_body(name, "hostile@example.org")).await;
        let vid = str_field(&v, "id");
        create_attempt(&api, &vid).await;
        Native { api, vid }
    }

    fn path(&self, kind: &str) -> String {
        format!("/v1/verifications/{}/captures?kind={kind}", self.vid)
    }

    async fn upload(&self, kind: &str, content_type: &str, bytes: &[u8]) -> Resp {
        self.api.post_raw(&self.path(kind), content_type, bytes.to_vec()).await
    }

    async fn captures(&self) -> Vec<Value> {
        data(&self.api.get(&format!("/v1/verifications/{}/captures", self.vid)).await.ok())
    }
}

// ----- Transmit ---------------------------------------------------------------------------

const TR: &str = "/compat/transmit";

async fn transmit_session(s: &Server, name: &str) -> (Api, String) {
    let c = crate::transmit::client(s, name, false).await;
    let r = c.api.post(&format!("{TR}/api/v1/verification"), &json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sid = str_field(&r.json(), "session_id");
    (c.api, sid)
}

fn transmit_image(kind: &str, format: &str, bytes: &[u8]) -> Value {
    json!({"image": {"image_type": kind, "format": format, "content": STANDARD.encode(bytes)}})
}

/// The Transmit error body `{message, error_code}`; returns the message.
fn transmit_error(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}: expected {status}, got {} {}", r.what, r.status, r.text());
    let b = r.json();
    assert_eq!(b["error_code"], status, "{}: {b}", r.what);
    let m = str_field(&b, "message");
    assert!(!m.trim().is_empty(), "{}: {b}", r.what);
    m
}

async fn transmit_images(api: &Api, sid: &str) -> Vec<Value> {
    api.get(&format!("{TR}/api/v1/verification/{sid}/images")).await.ok()["session_images"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ----- tests ------------------------------------------------------------------------------

#[test]
fn the_fixtures_are_tiny_and_claim_what_they_say() {
    for (what, _, bytes) in bombs() {
        assert!(bytes.len() < 2_000, "{what} is tiny on the wire: {} bytes", bytes.len());
        let dims = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .unwrap()
            .into_dimensions();
        // The header parses to the huge size (or to 0×0, or the decoder refuses it outright).
        if let Ok((w, h)) = dims {
            assert!(w == 0 || u64::from(w) * u64::from(h) > 50_000_000, "{what}: {w}×{h}");
        }
    }
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(webp_vp8l_claiming(16_000, 16_000)))
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!((w, h), (16_000, 16_000));
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(jpeg_claiming(60_000, 60_000)))
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!((w, h), (60_000, 60_000));
}

#[tokio::test]
async fn hostile_images_are_refused_before_decoding() {
    let s = Server::start().await;
    let rss = Rss::start(&s, "images (bombs, truncated, polyglots, EXIF)");
    let n = Native::new(&s, "Image Hostile").await;

    // Decompression bombs: 422 on the header, on the raw body and the multipart form.
    for (what, ct, bytes) in bombs() {
        let started = Instant::now();
        let p = refused(&n.upload("document_front", ct, &bytes).await, 422, "unprocessable-image");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: refused on the header, not after a decode ({:?})",
            started.elapsed()
        );
        let detail = str_field(&p, "detail");
        assert!(
            detail.contains("pixels") || detail.contains("decoded"),
            "{what}: the detail says why: {detail}"
        );
        let r = n.api.post_multipart(&n.path("selfie"), "file", "bomb", ct, bytes.clone()).await;
        refused(&r, 422, "unprocessable-image");
    }
    healthy(&s, "bombs").await;

    for (what, ct, bytes) in truncated() {
        let r = n.upload("document_front", ct, &bytes).await;
        assert!(
            r.status == 422 || r.status == 415,
            "{what}: expected 422 (or 415 when too short to sniff), got {} {}",
            r.status,
            r.text()
        );
        let code = if r.status == 422 {
            "unprocessable-image"
        } else {
            "unsupported-media-type"
        };
        refused(&r, r.status, code);
    }
    healthy(&s, "truncated images").await;

    // HTML (or a ZIP) with an image appended is not an image.
    let j = jpeg(200, 150, 21);
    let mut html_first = b"<!doctype html><html><body><script>alert(1)</script></body></html>\n".to_vec();
    html_first.extend_from_slice(&j);
    refused(
        &n.upload("document_front", "image/jpeg", &html_first).await,
        415,
        "unsupported-media-type",
    );
    let mut zip_first = tiny_zip();
    zip_first.extend_from_slice(&j);
    refused(
        &n.upload("document_front", "image/jpeg", &zip_first).await,
        415,
        "unsupported-media-type",
    );
    assert!(
        n.captures().await.is_empty(),
        "no refused upload was kept: {:?}",
        n.captures().await
    );

    // EXIF with absurd values: the image is taken as stored (upright), never a 5xx.
    for (what, tiff) in absurd_exif() {
        let r = n.upload("document_front", "image/jpeg", &jpeg_with_exif(&tiff)).await;
        assert!(
            r.status == 201 || r.status == 422,
            "{what}: expected 201 (EXIF ignored) or 422, got {} {}",
            r.status,
            r.text()
        );
        if r.status == 201 {
            let c = r.json();
            let fb = &c["feedback"];
            let dims = (fb["width"].as_u64(), fb["height"].as_u64());
            assert!(
                dims == (Some(320), Some(240)) || dims == (Some(240), Some(320)),
                "{what}: the stored size, with at most a valid rotation: {c}"
            );
        } else {
            refused(&r, 422, "unprocessable-image");
        }
    }
    healthy(&s, "absurd EXIF").await;

    // Polyglots whose bytes are an image first: kept as the image they are, served back
    // with the sniffed type and nosniff, never as HTML.
    let mut jpeg_zip = j.clone();
    jpeg_zip.extend_from_slice(&tiny_zip());
    let mut jpeg_html = j.clone();
    jpeg_html.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let png_as_jpeg = png(200, 150, 22);
    for (what, declared, bytes, media) in [
        ("JPEG + ZIP", "application/zip", jpeg_zip, "image/jpeg"),
        ("JPEG + HTML", "text/html", jpeg_html, "image/jpeg"),
        ("PNG declared as JPEG", "image/jpeg", png_as_jpeg, "image/png"),
    ] {
        let c = n.upload("document_back", declared, &bytes).await.ok();
        assert_eq!(c["media_type"], media, "{what}: the type comes from the bytes: {c}");
        let id = str_field(&c, "id");
        let f = n.api.get(&format!("/v1/files/{id}")).await;
        assert_eq!(f.status, 200, "{what}: {}", f.text());
        assert_eq!(f.content_type, media, "{what}: served as what it is");
        assert_eq!(f.body, bytes, "{what}: the evidence is kept byte for byte");
        let raw = raw_get(&s, &format!("/v1/files/{id}")).await;
        assert_eq!(raw.header("x-content-type-options"), Some("nosniff"), "{what}: {:?}", raw.headers);
    }
    let caps = n.captures().await;
    assert_eq!(caps.len(), 2, "one document_front (EXIF) and one document_back: {caps:?}");
    healthy(&s, "polyglots").await;
    rss.check(&s);
}

/// GET with the admin key over a raw connection, to see every header.
async fn raw_get(s: &Server, path: &str) -> crate::harness::RawResponse {
    let auth = format!("Bearer {}", s.admin_key);
    let mut c = RawConn::open(&s.base).await;
    c.request("GET", path, &[("Authorization", auth.as_str())], b"").await.1.unwrap()
}

#[tokio::test]
async fn hostile_images_through_transmit_base64_are_refused() {
    let s = Server::start().await;
    let rss = Rss::start(&s, "Transmit base64 images");
    let (api, sid) = transmit_session(&s, "Transmit Hostile").await;
    let images = format!("{TR}/api/v1/verification/{sid}/images");
    for (what, _, bytes) in bombs().into_iter().chain(truncated()) {
        let r = api.post(&images, &transmit_image("document_front", "jpg", &bytes)).await;
        let m = transmit_error(&r, 400);
        assert!(!m.contains("panick"), "{what}: {m}");
        // Refused by the image checks, not by the request's shape.
        assert!(!m.contains("image."), "{what}: {m}");
    }
    let mut html_first = b"<html><script>alert(1)</script></html>".to_vec();
    html_first.extend_from_slice(&jpeg(64, 64, 3));
    transmit_error(&api.post(&images, &transmit_image("selfie", "jpg", &html_first)).await, 400);
    // base64 of a bomb inside a data: URL.
    let url = format!("data:image/png;base64,{}", STANDARD.encode(png_claiming(60_000, 60_000)));
    let r = api
        .post(
            &images,
            &json!({"image": {"image_type": "selfie", "format": "jpg", "content": url}}),
        )
        .await;
    assert!(
        !transmit_error(&r, 400).contains("image."),
        "reached the image checks: {}",
        r.text()
    );
    let big = STANDARD.encode(vec![0u8; 24 * 1024 * 1024]);
    // Too large: the dialect answers every bad image with its documented 400.
    let r = api
        .post(
            &images,
            &json!({"image": {"image_type": "selfie", "format": "jpg", "content": big}}),
        )
        .await;
    assert!(transmit_error(&r, 400).contains("too large"), "{}", r.text());
    assert!(transmit_images(&api, &sid).await.is_empty(), "nothing was kept");
    healthy(&s, "Transmit images").await;
    rss.check(&s);
}

#[tokio::test]
async fn two_thousand_tiny_uploads_replace_each_other() {
    let s = Server::start().await;
    let rss = Rss::start(&s, "2 000 tiny uploads");
    let n = Native::new(&s, "Tiny Uploads").await;
    let tiny = png(1, 1, 5);
    assert!(tiny.len() < 100, "{}", tiny.len());
    let kinds = ["document_front", "document_back", "selfie"];
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    let concurrent = 8;
    let total = 2_000;
    let mut next = 0;
    while next < total {
        let mut batch = tokio::task::JoinSet::new();
        for i in next..(next + concurrent).min(total) {
            let (api, path, body) = (n.api.clone(), n.path(kinds[i % kinds.len()]), tiny.clone());
            batch.spawn(async move { api.post_raw(&path, "image/png", body).await });
        }
        for r in batch.join_all().await {
            assert!(r.status < 500, "{}: {} {}", r.what, r.status, r.text());
            *statuses.entry(r.status).or_insert(0) += 1;
        }
        next += concurrent;
    }
    println!("2 000 tiny uploads in {:?}: statuses {statuses:?}", started.elapsed());
    let caps = n.captures().await;
    assert!(
        caps.len() <= kinds.len(),
        "uploads of one kind replace each other: {} captures kept",
        caps.len()
    );
    let blobs = crate::harness::files_under(&s.inst.blob_dir());
    assert!(blobs.len() <= kinds.len() + 2, "replaced blobs are deleted: {} left", blobs.len());
    healthy(&s, "tiny uploads").await;
    rss.check(&s);
}

/// Read from a raw stream until it closes or `within` passes; what came back.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    r.ok().map(|()| got)
}

#[tokio::test]
async fn slow_loris_clients_are_timed_out_while_others_are_served() {
    let s = Server::start_with_env(&[("KYCD_HEADER_TIMEOUT_SECONDS", "2"), ("KYCD_BODY_TIMEOUT_SECONDS", "3")]).await;
    let rss = Rss::start(&s, "slow loris");
    let n = Native::new(&s, "Slow Loris").await;
    let host = s.base.strip_prefix("http://").unwrap().to_owned();

    // 1. Headers a byte at a time, never finished.
    let slow_headers = {
        let host = host.clone();
        tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(&host).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            let started = Instant::now();
            for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if c.write_all(&[*b]).await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                let mut probe = [0u8; 1];
                if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), c.read(&mut probe)).await {
                    return Some(started.elapsed());
                }
            }
            None
        })
    };
    // 2. An upload whose body comes a few bytes per second.
    let auth = format!("Bearer {}", s.admin_key);
    let slow_body = {
        let (host, path, auth) = (host.clone(), n.path("document_front"), auth.clone());
        tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(&host).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
            );
            c.write_all(head.as_bytes()).await.unwrap();
            let started = Instant::now();
            let (mut rd, mut wr) = c.into_split();
            let writer = tokio::spawn(async move {
                for _ in 0..100 {
                    if wr.write_all(b"\xff\xd8\xff").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            writer.abort();
            (started.elapsed(), String::from_utf8_lossy(&got).into_owned())
        })
    };
    // 3. A crowd of connections that send nothing at all.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(&host).await.unwrap());
    }

    // Meanwhile everyone else is served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        healthy(&s, "slow clients connected").await;
        let r = n.upload("selfie", "image/png", &png(64, 64, 1)).await;
        assert_eq!(r.status, 201, "an upload beside the slow clients: {}", r.text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let closed_after = slow_headers.await.unwrap();
    let closed_after = closed_after.unwrap_or_else(|| panic!("a request whose headers never end was not timed out"));
    println!("slow headers: connection closed after {closed_after:?}");
    assert!(closed_after < Duration::from_secs(10), "{closed_after:?}");

    let (took, answer) = slow_body.await.unwrap();
    println!("slow body: answered after {took:?}: {}", answer.lines().next().unwrap_or(""));
    assert!(took < Duration::from_secs(15), "a body trickling in was cut off: {took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "a slow body gets 408: {answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");

    // The idle crowd is closed too.
    let mut first = idle.remove(0);
    assert!(
        read_until_closed(&mut first, Duration::from_secs(10)).await.is_some(),
        "an idle connection is closed by the header timeout"
    );
    drop(idle);
    assert!(
        n.captures().await.iter().all(|c| c["kind"] == "selfie"),
        "the slow upload was not kept"
    );
    healthy(&s, "slow loris").await;
    rss.check(&s);
}

#[tokio::test]
async fn hostile_json_is_refused() {
    let s = Server::start().await;
    let rss = Rss::start(&s, "hostile JSON");
    let api = s.client_unpooled(&s.admin_key);
    let (tr, _) = transmit_session(&s, "JSON Hostile").await;

    let nested_arrays = "[".repeat(100_000).into_bytes();
    let mut nested_objects = Vec::new();
    for _ in 0..50_000 {
        nested_objects.extend_from_slice(br#"{"a":"#);
    }
    let mut oversized = br#"{"applicant": {"full_name": ""#.to_vec();
    oversized.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    oversized.extend_from_slice(br#""}}"#);
    let bad_utf8 = b"{\"applicant\": {\"full_name\": \"Ann \xff\xfe Lee\"}}".to_vec();
    let lone_surrogate = br#"{"applicant": {"full_name": "Ann \ud800 Lee"}}"#.to_vec();
    let transmit_surrogate = br#"{"state": "csrf \ud800 1"}"#.to_vec();
    let duplicates = br#"{"applicant": {"full_name": "Ann Lee", "full_name": "Bob Roe"}, "delivery": "none"}"#.to_vec();
    let dup_top = br#"{"applicant": {"full_name": "Ann Lee"}, "applicant": {"full_name": "Bob Roe"}}"#.to_vec();

    for (what, body, status, code) in [
        // Nesting fails on the first value that is not the expected type: 422 naming it.
        ("100 000 [", nested_arrays.clone(), 422, "invalid-request"),
        ("50 000 nested objects", nested_objects.clone(), 422, "invalid-request"),
        ("2 MiB of JSON", oversized.clone(), 413, "payload-too-large"),
        ("invalid UTF-8", bad_utf8.clone(), 400, "invalid-json"),
        ("a lone surrogate", lone_surrogate.clone(), 400, "invalid-json"),
        ("a duplicate key", duplicates.clone(), 422, "invalid-request"),
        ("a duplicate top-level key", dup_top.clone(), 422, "invalid-request"),
    ] {
        let p = api
            .post_raw("/v1/verifications", "application/json", body)
            .await
            .problem(status, code);
        if what.contains("duplicate") {
            assert!(str_field(&p, "detail").contains("duplicate"), "{what}: {p}");
        }
    }
    for (what, body, status, code) in [
        ("invalid UTF-8", b"{\"full_name\": \"Ann \xff Lee\"}".to_vec(), 400, "invalid-json"),
        (
            "a duplicate key",
            br#"{"full_name": "Ann Lee", "full_name": "Bob Roe"}"#.to_vec(),
            422,
            "invalid-request",
        ),
    ] {
        let p = api.post_raw("/v1/applicants", "application/json", body).await.problem(status, code);
        assert!(!str_field(&p, "detail").is_empty(), "{what}");
    }
    healthy(&s, "native JSON").await;

    // The dialects: their own error bodies (nesting kept under their smaller body limits).
    let ck = s.client_unpooled(&s.admin_key);
    let mut objects_5000 = br#"{"a":"#.repeat(5_000);
    objects_5000.extend_from_slice(b"1");
    for (what, body) in [
        ("20 000 [", "[".repeat(20_000).into_bytes()),
        ("5 000 nested objects", objects_5000),
        ("invalid UTF-8", bad_utf8.clone()),
        ("a lone surrogate", lone_surrogate.clone()),
    ] {
        let r = ck.post_raw("/compat/checkout/applicants", "application/json", body.clone()).await;
        assert!(r.status == 400 || r.status == 422, "checkout, {what}: {} {}", r.status, r.text());
        assert!(r.json()["error_type"].is_string(), "checkout, {what}: {}", r.text());
        // Transmit ignores unknown fields (as the vendor does): the surrogate goes in a known one.
        let tr_body = if what == "a lone surrogate" {
            transmit_surrogate.clone()
        } else {
            body.clone()
        };
        let r = tr.post_raw(&format!("{TR}/api/v1/verification"), "application/json", tr_body).await;
        assert_eq!(r.status, 400, "transmit, {what}: {}", r.text());
        transmit_error(&r, 400);
        let r = ck
            .post_raw(
                "/compat/boldsign/v1/identityVerification/report?documentId=d1",
                "application/json",
                body,
            )
            .await;
        assert_eq!(r.status, 400, "boldsign, {what}: {}", r.text());
        assert!(r.json()["error"].is_string(), "boldsign, {what}: {}", r.text());
    }
    let r = ck
        .post_raw("/compat/checkout/applicants", "application/json", oversized.clone())
        .await;
    assert_eq!(r.status, 413, "checkout, 2 MiB: {}", r.text());
    let r = tr
        .post_raw(&format!("{TR}/api/v1/verification"), "application/json", oversized.clone())
        .await;
    // The dialect answers every bad request with its 400, in its own body.
    assert!(transmit_error(&r, 400).contains("too large"), "{}", r.text());
    let r = ck
        .post_raw(
            "/compat/boldsign/v1/identityVerification/report?documentId=d1",
            "application/json",
            oversized,
        )
        .await;
    assert_eq!(r.status, 413, "boldsign, 2 MiB: {}", r.text());

    let list = data(&api.get("/v1/verifications").await.ok());
    assert!(list.is_empty(), "nothing was created: {list:?}");
    let applicants = data(&api.get("/v1/applicants").await.ok());
    assert!(applicants.is_empty(), "nothing was created: {applicants:?}");
    healthy(&s, "dialect JSON").await;
    rss.check(&s);
}

#[tokio::test]
async fn unicode_tricks_in_names_are_refused_or_kept_exactly() {
    let s = Server::start().await;
    let rss = Rss::start(&s, "unicode names");
    let api = s.client_unpooled(&s.admin_key);

    let rtl = "Ann\u{202E}eeL\u{202C} Smith";
    let zwj = "Zo\u{200D}e\u{200B} K\u{200C}ing\u{FEFF}";
    let homoglyph = "\u{0410}lex \u{0421}ooper"; // Cyrillic А and С
    let combining = "Jose\u{0301} Z\u{0335}\u{0336}\u{0337}a\u{0301}\u{0302}\u{0303}\u{0304}lgo";
    let markup = "<script>alert(1)</script> & \"Bobby\" Tables'";
    // Kept exactly as given (they are valid names, or harmless text).
    for name in [rtl, zwj, homoglyph, combining, markup] {
        let v = create_verification(&api, &verification_body(name, "uni@example.org")).await;
        let vid = str_field(&v, "id");
        let got = api.get(&format!("/v1/verifications/{vid}")).await;
        assert!(got.content_type.starts_with("application/json"), "{}", got.content_type);
        assert_eq!(got.json()["declared_data"]["full_name"], name, "{got:?}");
    }
    // Refused with a message that names the field and says why.
    let long = "A".repeat(10_000);
    for (what, name, says) in [
        ("NUL", "Ann\u{0}Lee", "control"),
        ("a bell and escape", "Ann\u{7}\u{1b}[31mLee", "control"),
        ("10 000 characters", long.as_str(), "300"),
    ] {
        let p = api
            .post("/v1/verifications", &verification_body(name, "uni@example.org"))
            .await
            .problem(422, "invalid-request");
        let d = str_field(&p, "detail");
        assert!(d.contains("full_name") && d.contains(says), "{what}: {d}");
        let p = api
            .post("/v1/applicants", &json!({"full_name": name}))
            .await
            .problem(422, "invalid-request");
        assert!(str_field(&p, "detail").contains(says), "{what}: {p}");
    }
    healthy(&s, "native names").await;

    // The PDF report renders a name with an RTL override and combining marks.
    let both = format!("{rtl} {combining}");
    let v = create_verification(&api, &verification_body(&both, "pdf@example.org")).await;
    let vid = str_field(&v, "id");
    let pdf = api.get(&format!("/v1/verifications/{vid}/report.pdf")).await;
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.body.starts_with(b"%PDF-"), "a PDF");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, &pdf.body).unwrap();
    if let Ok(out) = std::process::Command::new("pdftotext").arg(&path).arg("-").output() {
        assert!(out.status.success(), "pdftotext reads it: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Smith"), "the name is in the report: {text}");
    }

    // Dialect request fields.
    let ck = s.client_unpooled(&s.admin_key);
    for (what, name, ok) in [("RTL", rtl, true), ("NUL", "Ann\u{0}Lee", false), ("10 000", long.as_str(), false)] {
        let r = ck
            .post(
                "/compat/checkout/applicants",
                &json!({"email": "u@example.org", "external_applicant_name": name}),
            )
            .await;
        if ok {
            assert_eq!(r.status, 201, "checkout, {what}: {}", r.text());
            assert_eq!(r.json()["external_applicant_name"], name, "{}", r.text());
        } else {
            assert_eq!(r.status, 422, "checkout, {what}: {}", r.text());
            assert!(r.json()["error_codes"].is_array(), "{}", r.text());
        }
    }
    let (tr, _) = transmit_session(&s, "Unicode Transmit").await;
    for (what, value, ok) in [
        ("RTL", "user\u{202E}24", true),
        ("NUL", "user\u{0}42", false),
        ("10 000", long.as_str(), false),
    ] {
        for field in ["external_user_id", "organization_name"] {
            let r = tr
                .post(
                    &format!("{TR}/api/v1/verification"),
                    &json!({"customer_information": {field: value}}),
                )
                .await;
            if ok {
                assert_eq!(r.status, 201, "transmit {field}, {what}: {}", r.text());
            } else {
                let m = transmit_error(&r, 400);
                assert!(m.contains(field), "transmit {field}, {what}: {m}");
            }
        }
    }
    healthy(&s, "dialect names").await;
    rss.check(&s);
}

#[tokio::test]
async fn concurrent_images_at_the_pixel_limit_keep_memory_bounded() {
    // A decode budget of 256 MiB (the default) lets one upload at the pixel limit decode
    // at a time (512 MiB lets two: a peak about 390 MiB above idle).
    let s = Server::start_with_env(&[("KYCD_DECODE_MEMORY_MIB", "256")]).await;
    let rss = Rss::start(&s, "8 concurrent 7000×7000 RGB PNGs");
    let n = Native::new(&s, "Big Pixels").await;
    // 49 million pixels (the limit is 50 million), a flat colour: small on the wire,
    // 147 MB of RGB once decoded.
    let img = image::RgbImage::from_pixel(7_000, 7_000, image::Rgb([200, 180, 160]));
    let mut big = std::io::Cursor::new(Vec::new());
    img.write_to(&mut big, image::ImageFormat::Png).unwrap();
    let big = big.into_inner();
    drop(img);
    println!("7000×7000 PNG: {} KiB on the wire", big.len() / 1024);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let (peak, pid) = (peak.clone(), s.pid().unwrap());
        tokio::spawn(async move {
            loop {
                if let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = st
                        .lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                {
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (api, path, body) = (n.api.clone(), n.path(["document_front", "selfie"][i % 2]), big.clone());
        set.spawn(async move { api.post_raw(&path, "image/png", body).await });
    }
    for r in set.join_all().await {
        assert!(r.status == 201 || r.status == 503 || r.status == 429, "{} {}", r.status, r.text());
    }
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "peak RSS during 8 concurrent decodes: {} MiB (started at {} MiB)",
        peak / 1024,
        rss.start_kib / 1024
    );
    assert!(
        peak.saturating_sub(rss.start_kib) < RSS_GROWTH_LIMIT_KIB,
        "decoding is bounded: peak {peak} KiB from {} KiB",
        rss.start_kib
    );
    healthy(&s, "big decodes").await;
    rss.check(&s);
}
