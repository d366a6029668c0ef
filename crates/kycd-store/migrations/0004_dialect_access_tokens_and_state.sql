-- dialect access tokens and download links; per-object dialect state

CREATE TABLE access_tokens (
            token_hash TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            key_id TEXT NOT NULL REFERENCES api_keys(id),
            audience TEXT NOT NULL,
            object_id TEXT,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL);

CREATE INDEX access_tokens_expiry ON access_tokens (tenant_id, expires_at);

CREATE TABLE dialect_state (
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            object_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            data_enc TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, object_id, kind));

CREATE INDEX dialect_state_verification ON dialect_state (tenant_id, verification_id);
