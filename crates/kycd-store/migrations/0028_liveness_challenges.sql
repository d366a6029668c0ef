-- head-turn liveness challenges the server issued: steps, deadline, single use

CREATE TABLE liveness_challenges (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            steps TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            used_at BIGINT,
            created_at BIGINT NOT NULL);

CREATE INDEX liveness_challenges_verification ON liveness_challenges (tenant_id, verification_id);
