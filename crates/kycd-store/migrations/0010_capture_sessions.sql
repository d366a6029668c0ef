-- hosted capture page sessions (only the hash of the session secret is kept)

CREATE TABLE capture_sessions (
            secret_hash TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            attempt_id TEXT NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL);

CREATE INDEX capture_sessions_expiry ON capture_sessions (tenant_id, expires_at);
