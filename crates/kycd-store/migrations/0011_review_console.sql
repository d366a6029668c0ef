-- review console: operators (argon2 password hashes, sealed TOTP secrets), their sessions and invitations, four-eyes setting, pending first decisions

CREATE TABLE operators (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            email TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT,
            totp_enc TEXT,
            failed_logins BIGINT NOT NULL DEFAULT 0,
            locked_until BIGINT,
            disabled BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE UNIQUE INDEX operators_email ON operators (email);

CREATE INDEX operators_tenant ON operators (tenant_id, created_at);

CREATE TABLE operator_sessions (
            secret_hash TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            operator_id TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
            last_seen_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL);

CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

CREATE TABLE operator_invites (
            token_hash TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            operator_id TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
            expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL);

ALTER TABLE tenants ADD COLUMN four_eyes BIGINT NOT NULL DEFAULT 0;

CREATE TABLE review_proposals (
            verification_id TEXT PRIMARY KEY REFERENCES verifications(id) ON DELETE CASCADE,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            decision TEXT NOT NULL,
            reason_code TEXT NOT NULL,
            sealed TEXT NOT NULL,
            proposed_by TEXT NOT NULL,
            proposed_at BIGINT NOT NULL);
