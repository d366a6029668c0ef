//! Evidence exports: PDF report, signed JWT, streamed ZIP archive, and the signing keys
//! behind them. A snapshot is deterministic for a given verification state (as-of time
//! = `updated_at`, token id derived from it, timeline without read entries), so a PDF and
//! a JWT fetched separately agree with each other and with the archive.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result};
use bytes::Bytes;
use kycd_core::*;
use kycd_evidence::{EvidenceClaims, EvidenceFile, EvidenceModel, EvidenceSigner, FileDigest, REPORT_JSON, REPORT_PDF};
use kycd_store::{SigningKeyRecord, StoredBlob};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

pub use kycd_evidence::{EvidenceError, Verdict, verify_archive};

/// Everything an export needs, loaded (and audited) up front.
pub struct EvidenceExport {
    pub model: EvidenceModel,
    pub jti: String,
    tenant: TenantId,
    captures: Vec<(Capture, StoredBlob)>,
    signer: EvidenceSigner,
    issuer: String,
}

impl EvidenceExport {
    pub fn verification_id(&self) -> &str {
        &self.model.verification_id
    }
}

impl From<EvidenceError> for EngineError {
    fn from(e: EvidenceError) -> Self {
        EngineError::Internal(e.to_string())
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Engine {
    /// The tenant's active evidence signing key, created on first use.
    pub async fn evidence_signer(&self, tenant: &TenantId) -> Result<EvidenceSigner> {
        let mut tx = self.store.begin().await?;
        if let Some((rec, der)) = tx.active_signing_key(tenant).await? {
            return Ok(EvidenceSigner::from_pkcs8(rec.kid, &der)?);
        }
        drop(tx);
        self.rotate_signing_key(tenant).await
    }

    /// Create a new signing key; the previous one is retired but stays in the JWKS.
    pub async fn rotate_signing_key(&self, tenant: &TenantId) -> Result<EvidenceSigner> {
        let now = self.now();
        let (generated, der) = EvidenceSigner::generate()?;
        let kid = format!("evk_{}", random_token(20));
        let der = secrecy::ExposeSecret::expose_secret(&der).to_vec();
        let signer = EvidenceSigner::from_pkcs8(kid.clone(), &der)?;
        drop(generated);
        let rec = SigningKeyRecord {
            kid: kid.clone(),
            tenant_id: tenant.clone(),
            alg: "ES256".into(),
            public_jwk: signer.public_jwk().to_string(),
            created_at: now,
            retired_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.required_tenant(tenant).await?;
        tx.insert_signing_key(&rec, &der, now).await?;
        tx.audit(tenant, &Actor::System, "signing_key.created", &kid, now).await?;
        tx.commit().await?;
        Ok(signer)
    }

    /// Public keys as a JWKS: one tenant's, or every tenant's.
    pub async fn jwks(&self, tenant: Option<&TenantId>) -> Result<serde_json::Value> {
        let keys = self.store.begin().await?.public_signing_keys(tenant).await?;
        let keys: Vec<serde_json::Value> = keys.iter().filter_map(|k| serde_json::from_str(&k.public_jwk).ok()).collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// Load a verification's evidence and audit the read (`action`: `evidence.pdf.read`, …).
    pub async fn evidence_export(&self, p: &Principal, id: &VerificationId, action: &str) -> Result<EvidenceExport> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(v) = tx.get_verification(&p.tenant_id, id).await? else {
            // A deleted verification leaves its (tenant-scoped) audit trail: say Gone, not 404.
            let trail = tx.audit_for_object(&p.tenant_id, id.as_str()).await?;
            if trail.iter().any(|e| e.action == "verification.deleted") {
                return Err(EngineError::Gone(
                    "this verification was deleted; its evidence no longer exists".into(),
                ));
            }
            return Err(EngineError::NotFound("verification"));
        };
        if v.redacted {
            return Err(EngineError::Gone(
                "this verification was anonymized; its evidence was erased".into(),
            ));
        }
        let tenant = tx.required_tenant(&p.tenant_id).await?;
        let applicant = tx.required_applicant(&p.tenant_id, &v.applicant_id).await?;
        let mut captures = Vec::new();
        for (c, blob) in tx.list_captures(&p.tenant_id, id).await? {
            if let Some(b) = blob {
                captures.push((c, b));
            }
        }
        let timeline: Vec<TimelineEntry> = tx
            .timeline_for_object(&p.tenant_id, id.as_str())
            .await?
            .into_iter()
            .map(TimelineEntry::from)
            .collect();
        tx.audit(&p.tenant_id, &p.actor(), action, id.as_str(), now).await?;
        tx.commit().await?;
        let plain: Vec<Capture> = captures.iter().map(|(c, _)| c.clone()).collect();
        let model = EvidenceModel::new(&tenant, &v, &applicant, &plain, &timeline, v.updated_at);
        let jti = format!(
            "evj_{}",
            &sha256_hex(format!("{}|{}", v.id, v.updated_at.timestamp_millis()).as_bytes())[..24]
        );
        let signer = self.evidence_signer(&p.tenant_id).await?;
        Ok(EvidenceExport {
            model,
            jti,
            tenant: p.tenant_id.clone(),
            captures,
            signer,
            issuer: self.cfg.evidence_issuer.clone(),
        })
    }

    async fn export_images(&self, ex: &EvidenceExport) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for (c, b) in &ex.captures {
            out.push((
                c.id.to_string(),
                self.store.get_blob(&ex.tenant, &c.id, &b.blob_key, &b.wrapped_key).await?,
            ));
        }
        Ok(out)
    }

    pub async fn render_pdf(&self, ex: &EvidenceExport) -> Result<Vec<u8>> {
        // A liveness burst is shown by its first frame (the archive keeps the whole burst).
        let images: Vec<(String, Vec<u8>)> = self
            .export_images(ex)
            .await?
            .into_iter()
            .zip(&ex.captures)
            .map(|((id, bytes), (c, _))| match c.kind {
                CaptureKind::LivenessBurst => (id, crate::liveness::frame_of(&bytes, 0).unwrap_or(bytes)),
                _ => (id, bytes),
            })
            .collect();
        let model = ex.model.clone();
        let jti = ex.jti.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<(&str, &[u8])> = images.iter().map(|(id, b)| (id.as_str(), b.as_slice())).collect();
            kycd_evidence::render_pdf(&model, &refs, &jti)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
        .map_err(Into::into)
    }

    /// The signed JWT over report.json, report.pdf and every original image.
    pub async fn evidence_jwt(&self, ex: &EvidenceExport) -> Result<String> {
        let pdf = self.render_pdf(ex).await?;
        let mut files = vec![
            FileDigest {
                name: REPORT_JSON.into(),
                sha256: sha256_hex(&ex.model.to_json_bytes()?),
            },
            FileDigest {
                name: REPORT_PDF.into(),
                sha256: sha256_hex(&pdf),
            },
        ];
        for (c, _) in &ex.captures {
            let ce = ex.model.captures.iter().find(|m| m.file_id == c.id.as_str());
            let name = ce.map_or_else(|| format!("images/{}", c.id), |m| m.archive_name());
            files.push(FileDigest {
                name,
                sha256: c.sha256.clone(),
            });
        }
        Ok(ex.signer.sign(&EvidenceClaims::new(&ex.model, &ex.issuer, &ex.jti, files))?)
    }

    /// Stream the ZIP archive: chunks arrive on the returned channel while a blocking task
    /// writes it; each image is fetched and decrypted only when the writer reaches it, so
    /// memory holds at most one image, never the archive.
    pub async fn stream_evidence_zip(self: &Arc<Self>, ex: EvidenceExport) -> Result<mpsc::Receiver<std::io::Result<Bytes>>> {
        let pdf = self.render_pdf(&ex).await?;
        let report = ex.model.to_json_bytes()?;
        let (tx, rx) = mpsc::channel(8);
        let engine = self.clone();
        let handle = tokio::runtime::Handle::current();
        // The archive streams after the request's answer began: its log lines keep the
        // request's span (and so its request id).
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _in_request = span.enter();
            let mut files = vec![
                EvidenceFile::from_bytes(REPORT_JSON, report),
                EvidenceFile::from_bytes(REPORT_PDF, pdf),
            ];
            for (c, b) in &ex.captures {
                let name = ex
                    .model
                    .captures
                    .iter()
                    .find(|m| m.file_id == c.id.as_str())
                    .map_or_else(|| format!("images/{}", c.id), |m| m.archive_name());
                files.push(EvidenceFile::new(
                    name,
                    LazyBlob {
                        engine: engine.clone(),
                        handle: handle.clone(),
                        tenant: ex.tenant.clone(),
                        file: c.id.clone(),
                        blob: b.clone(),
                        stream: None,
                        piece: Bytes::new(),
                    },
                ));
            }
            let mut out = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let result = kycd_evidence::write_evidence_zip(&mut out, files, |digests| {
                ex.signer
                    .sign(&EvidenceClaims::new(&ex.model, &ex.issuer, &ex.jti, digests.to_vec()))
            });
            let result = result.map_err(|e| std::io::Error::other(e.to_string())).and_then(|_| out.flush());
            if let Err(e) = result {
                tracing::error!(error = %e, "evidence archive failed mid-stream");
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(rx)
    }
}

const CHUNK: usize = 64 * 1024;

/// `Write` into a bounded channel: the HTTP body drains it, so a slow client slows the
/// writer instead of growing a buffer.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// An image read from the blob store from its first `read` on, one decrypted chunk at a
/// time: an archive holds one chunk of one image in memory, not its images.
struct LazyBlob {
    engine: Arc<Engine>,
    handle: tokio::runtime::Handle,
    tenant: TenantId,
    file: FileId,
    blob: StoredBlob,
    stream: Option<kycd_store::BlobStream>,
    /// What is left of the last chunk.
    piece: Bytes,
}

impl Read for LazyBlob {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use futures::StreamExt;
        let fail = |e: kycd_store::StoreError| std::io::Error::other(e.to_string());
        while self.piece.is_empty() {
            let stream = match &mut self.stream {
                Some(s) => s,
                None => {
                    let store = self.engine.store();
                    let opened = self
                        .handle
                        .block_on(store.get_blob_stream(&self.tenant, &self.file, &self.blob.blob_key, &self.blob.wrapped_key))
                        .map_err(fail)?;
                    self.stream.insert(opened)
                }
            };
            match self.handle.block_on(stream.next()) {
                Some(chunk) => self.piece = chunk.map_err(fail)?,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.piece.len());
        out[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }
}

/// Verify an archive offline (`kycd evidence verify`).
pub fn verify_evidence_archive(path: &std::path::Path, jwks: &serde_json::Value) -> std::result::Result<Verdict, EvidenceError> {
    verify_archive(path, jwks)
}
