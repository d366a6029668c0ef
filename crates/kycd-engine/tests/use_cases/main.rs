//! The engine's use cases in process, against a temporary SQLite database and blob folder:
//! no HTTP, no models (the MRZ and face checks are then inconclusive and say so). The
//! integration suite (crates/kycd/tests/it) runs the same behaviours through a real server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod captures;
mod erasure;
mod tenancy;
mod verifications;

use kycd_core::*;
use kycd_engine::*;
use std::sync::Arc;

/// An engine over its own temporary SQLite database and blob folder (removed on drop).
pub struct TestEngine {
    pub engine: Arc<Engine>,
    pub dir: tempfile::TempDir,
}

impl TestEngine {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("kycd.db").display());
        let db = Database::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        let blobs = LocalFileSystem::new_with_prefix(dir.path().join("blobs")).unwrap();
        let store = db.unlock(MasterKey::generate().0, Arc::new(blobs)).await.unwrap();
        let cfg = EngineConfig {
            // No models here: the pipeline reports the checks that need them as inconclusive.
            model_dir: dir.path().join("no-models"),
            face_matching: false,
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::new(store, cfg, Arc::new(SystemClock)));
        Self { engine, dir }
    }

    /// A new tenant and its admin principal (through its API key, as a request would).
    pub async fn tenant(&self, name: &str) -> (Principal, String) {
        let key = self.engine.create_tenant(name, Mode::Test).await.unwrap();
        let p = self.engine.authenticate(&key.api_key).await.unwrap();
        assert_eq!(p.tenant_id, key.tenant_id);
        (p, key.api_key)
    }

    /// A new engine with one tenant (`name`) and its admin principal, and one open
    /// verification in it: where most tests start.
    pub async fn with_verification(name: &str) -> (Self, Principal, Verification) {
        let t = Self::new().await;
        let (p, _) = t.tenant(name).await;
        let v = t.verification(&p).await;
        (t, p, v)
    }

    /// Upload [`photo`] as `kind` of verification `v`.
    pub async fn upload(&self, p: &Principal, v: &Verification, kind: CaptureKind) -> Capture {
        self.engine.add_capture(p, &v.id, kind, photo()).await.unwrap()
    }

    pub async fn verification(&self, p: &Principal) -> Verification {
        let person = PersonData {
            full_name: Some(PersonalText::parse("full_name", "Erika Mustermann", 200).unwrap()),
            ..PersonData::default()
        };
        self.engine
            .create_verification(
                p,
                NewVerification::of(
                    ApplicantRef::Inline(NewApplicant {
                        external_applicant_id: None,
                        person,
                    }),
                    DeclaredData::default(),
                ),
            )
            .await
            .unwrap()
    }

    /// Every file under the blob folder, with its bytes.
    pub fn blob_files(&self) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    out.push((path, bytes));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("blobs"), &mut out);
        out
    }
}

/// A photo-like JPEG, 1600 × 1000: a light card with fine print on a darker, textured
/// table, whole and inside the frame, so the upload's quality feedback finds a document.
pub fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1600, 1000, |x, y| {
        let grain = ((x * 7 + y * 13) % 17) as u8;
        let on_card = (300..1300).contains(&x) && (200..830).contains(&y);
        if on_card {
            // Lines of "print" on the card.
            let ink = (y / 6) % 4 == 0 && (x / 9) % 5 != 0;
            let v = if ink { 60 } else { 225 - grain };
            image::Rgb([v, v, v.saturating_sub(10)])
        } else {
            image::Rgb([70 + grain, 55 + grain, 40 + grain])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

pub async fn read_all(mut s: BlobStream) -> Vec<u8> {
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}
