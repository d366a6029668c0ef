-- initial schema

CREATE TABLE tenants (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            mode TEXT NOT NULL,
            created_at BIGINT NOT NULL);

CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            key_hash TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            mode TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT);

CREATE TABLE applicants (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            external_id_enc TEXT,
            external_id_bidx TEXT,
            person_enc TEXT NOT NULL,
            email_bidx TEXT,
            phone_bidx TEXT,
            redacted BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX applicants_list ON applicants (tenant_id, created_at, id);

CREATE INDEX applicants_email ON applicants (tenant_id, email_bidx);

CREATE INDEX applicants_phone ON applicants (tenant_id, phone_bidx);

CREATE INDEX applicants_external ON applicants (tenant_id, external_id_bidx);

CREATE TABLE verifications (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            applicant_id TEXT NOT NULL REFERENCES applicants(id),
            status TEXT NOT NULL,
            ref_document_id TEXT,
            ref_signer_order BIGINT,
            ref_signature_request_id TEXT,
            delivery TEXT NOT NULL,
            private_enc TEXT NOT NULL,
            policy_json TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            checks_json TEXT NOT NULL,
            review_json TEXT,
            redacted BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX verifications_list ON verifications (tenant_id, created_at, id);

CREATE INDEX verifications_status ON verifications (tenant_id, status, created_at);

CREATE INDEX verifications_ref ON verifications (tenant_id, ref_document_id);

CREATE TABLE attempts (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            token_expires_at BIGINT NOT NULL,
            token_used_at BIGINT,
            client_json TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX attempts_verification ON attempts (tenant_id, verification_id, created_at);

CREATE TABLE captures (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            attempt_id TEXT NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            feedback_json TEXT NOT NULL,
            blob_key TEXT,
            wrapped_key TEXT,
            created_at BIGINT NOT NULL);

CREATE INDEX captures_verification ON captures (tenant_id, verification_id, created_at);

CREATE TABLE audit_heads (
            tenant_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL);

CREATE TABLE audit_entries (
            tenant_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            at BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            object_id TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (tenant_id, seq));

CREATE INDEX audit_object ON audit_entries (tenant_id, object_id, seq);

CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL,
            run_at BIGINT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            locked_until BIGINT,
            last_error TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX jobs_ready ON jobs (status, run_at);
