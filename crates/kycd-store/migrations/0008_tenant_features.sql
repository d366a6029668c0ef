-- per-tenant features (add-ons an operator enables); verifications found by signature request

CREATE TABLE tenant_features (
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            feature TEXT NOT NULL,
            enabled_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, feature));

CREATE INDEX verifications_signature_request ON verifications (tenant_id, ref_signature_request_id);
