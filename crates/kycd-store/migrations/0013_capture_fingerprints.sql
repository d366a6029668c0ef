-- fingerprints of captures for duplicate detection (SHA-256, perceptual hash in four 16-bit bands)

CREATE TABLE capture_fingerprints (
            file_id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            applicant_id TEXT NOT NULL,
            kind_class TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            phash BIGINT NOT NULL,
            band0 BIGINT NOT NULL,
            band1 BIGINT NOT NULL,
            band2 BIGINT NOT NULL,
            band3 BIGINT NOT NULL,
            created_at BIGINT NOT NULL);

CREATE INDEX capture_fingerprints_sha ON capture_fingerprints (tenant_id, sha256);

CREATE INDEX capture_fingerprints_b0 ON capture_fingerprints (tenant_id, kind_class, band0);

CREATE INDEX capture_fingerprints_b1 ON capture_fingerprints (tenant_id, kind_class, band1);

CREATE INDEX capture_fingerprints_b2 ON capture_fingerprints (tenant_id, kind_class, band2);

CREATE INDEX capture_fingerprints_b3 ON capture_fingerprints (tenant_id, kind_class, band3);

CREATE INDEX capture_fingerprints_verification ON capture_fingerprints (tenant_id, verification_id);
