-- per-verification callbacks a dialect asked for (GET to a URL the integrator gave), and their delivery log

CREATE TABLE callback_deliveries (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            url_enc TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            next_attempt_at BIGINT,
            last_attempt_at BIGINT,
            last_status_code BIGINT,
            last_error TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX callback_deliveries_verification ON callback_deliveries (tenant_id, verification_id, created_at);
