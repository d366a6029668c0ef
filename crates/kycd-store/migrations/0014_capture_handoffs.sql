-- desktop-to-phone handoff links of capture sessions (only the token's hash is kept)

CREATE TABLE capture_handoffs (
            token_hash TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            attempt_id TEXT NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
            expires_at BIGINT NOT NULL,
            used_at BIGINT,
            created_at BIGINT NOT NULL);

CREATE INDEX capture_handoffs_expiry ON capture_handoffs (tenant_id, expires_at);
