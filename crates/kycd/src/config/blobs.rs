//! Where encrypted blobs go: the data dir's folder or an S3-compatible bucket.

use super::*;

/// The blob backend (--blob-store). Either way blobs are sealed with their own data key
/// before they leave the process: the store only ever sees ciphertext.
pub enum BlobBackend {
    Local,
    S3(S3Settings),
}

/// An S3-compatible bucket (AWS S3, MinIO, Garage, Ceph…), from the --s3-* settings.
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// None: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    /// Requests as `ENDPOINT/BUCKET/KEY` (self-hosted stores) rather than `BUCKET.ENDPOINT/KEY`.
    pub path_style: bool,
    /// Key prefix inside the bucket, so several installations can share one.
    pub prefix: Option<String>,
    /// None: the AWS_* environment / instance credentials, as the AWS SDKs find them.
    pub credentials: Option<(String, secrecy::SecretString)>,
}

impl BlobBackend {
    /// `s3_settings_need_s3`: S3 settings without --blob-store s3 are a mistake (they
    /// would be ignored), except for a command that reads them for a target of its own.
    pub(super) fn from_settings(s: &Settings, s3_settings_need_s3: bool) -> Result<Self> {
        match s.blob_store {
            BlobStoreKind::Local => {
                for (name, flag, set) in [
                    ("KYCD_S3_BUCKET", "--s3-bucket", s.s3_bucket.is_some()),
                    ("KYCD_S3_ENDPOINT", "--s3-endpoint", s.s3_endpoint.is_some()),
                ]
                .into_iter()
                .filter(|_| s3_settings_need_s3)
                {
                    if set {
                        bail!(
                            "{name} is set but KYCD_BLOB_STORE is not 's3': set KYCD_BLOB_STORE=s3 (--blob-store s3) to store blobs in S3, or unset {name} ({flag})"
                        );
                    }
                }
                Ok(Self::Local)
            }
            BlobStoreKind::S3 => Ok(Self::S3(S3Settings::from_settings(s)?)),
        }
    }
}

impl S3Settings {
    pub(super) fn from_settings(s: &Settings) -> Result<Self> {
        let bucket = s
            .s3_bucket
            .clone()
            .context("KYCD_BLOB_STORE=s3 needs KYCD_S3_BUCKET (--s3-bucket): the bucket name")?;
        Self::from_settings_for(s, bucket, s.s3_prefix.clone())
    }

    /// The bucket and prefix of an `s3://BUCKET/PREFIX` URL; the endpoint, region, path
    /// style and credentials from the --s3-* settings.
    pub fn from_url(s: &Settings, url: &str) -> Result<Self> {
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!("--blobs must be an s3://BUCKET/PREFIX URL, got '{url}'");
        };
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, Some(p)),
            None => (rest, None),
        };
        if bucket.is_empty() {
            bail!("--blobs {url} names no bucket: use s3://BUCKET/PREFIX");
        }
        let prefix = match prefix.filter(|p| !p.trim_matches('/').is_empty()) {
            Some(p) => Some(key_prefix(p).map_err(|e| anyhow::anyhow!("the prefix of --blobs {e}"))?),
            None => None,
        };
        Self::from_settings_for(s, bucket.to_owned(), prefix)
    }

    fn from_settings_for(s: &Settings, bucket: String, prefix: Option<String>) -> Result<Self> {
        let endpoint = s.s3_endpoint.clone();
        // Self-hosted stores rarely have per-bucket DNS names: path-style by default there.
        let path_style = s.s3_path_style.unwrap_or(endpoint.is_some());
        let secret = match (&s.s3_secret_access_key, &s.s3_secret_access_key_file) {
            (Some(_), Some(_)) => bail!("set KYCD_S3_SECRET_ACCESS_KEY or KYCD_S3_SECRET_ACCESS_KEY_FILE, not both"),
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read KYCD_S3_SECRET_ACCESS_KEY_FILE {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let credentials = match (s.s3_access_key_id.clone(), secret) {
            (Some(id), Some(secret)) => Some((id, secrecy::SecretString::from(secret))),
            (None, None) => None,
            (Some(_), None) => bail!(
                "KYCD_S3_ACCESS_KEY_ID is set without KYCD_S3_SECRET_ACCESS_KEY (or _FILE): set both, or neither to use the AWS_* environment"
            ),
            (None, Some(_)) => {
                bail!("the S3 secret key is set without KYCD_S3_ACCESS_KEY_ID: set both, or neither to use the AWS_* environment")
            }
        };
        Ok(Self {
            bucket,
            region: s.s3_region.clone(),
            endpoint,
            path_style,
            prefix,
            credentials,
        })
    }

    /// Fail at start, not on the first upload: a key nobody writes must be answered "not
    /// found"; anything else (no route, bad credentials, no such bucket) is a
    /// configuration error.
    pub async fn probe(&self, store: &Arc<dyn kycd_engine::ObjectStore>) -> Result<()> {
        match store.head(&object_store::path::Path::from("kycd-startup-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => bail!(
                "cannot use the S3 blob store {}: {e}; check KYCD_S3_ENDPOINT, KYCD_S3_BUCKET, KYCD_S3_REGION and the credentials",
                self.describe()
            ),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.bucket,
            self.prefix.as_deref().unwrap_or(""),
            self.endpoint.as_deref().unwrap_or("AWS")
        )
    }

    pub fn build(&self) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
        use object_store::aws::AmazonS3Builder;
        use secrecy::ExposeSecret;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(!self.path_style);
        if let Some(ep) = &self.endpoint {
            // The operator wrote http:// on purpose (a store on loopback or a private network).
            b = b.with_endpoint(ep).with_allow_http(ep.starts_with("http://"));
        }
        if let Some((id, secret)) = &self.credentials {
            b = b.with_access_key_id(id).with_secret_access_key(secret.expose_secret());
        }
        let s3 = b
            .build()
            .with_context(|| format!("invalid S3 settings for {}: check the KYCD_S3_* variables", self.describe()))?;
        Ok(match &self.prefix {
            Some(p) => Arc::new(object_store::prefix::PrefixStore::new(s3, p.as_str())),
            None => Arc::new(s3),
        })
    }
}
