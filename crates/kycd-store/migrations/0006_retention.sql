-- retention settings per tenant; retention, legal hold and sweep dates per verification

ALTER TABLE tenants ADD COLUMN retention_days BIGINT NOT NULL DEFAULT 90;

ALTER TABLE tenants ADD COLUMN max_retention_days BIGINT NOT NULL DEFAULT 3650;

ALTER TABLE tenants ADD COLUMN tombstone_days BIGINT NOT NULL DEFAULT 365;

ALTER TABLE verifications ADD COLUMN retention_days BIGINT;

ALTER TABLE verifications ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;

ALTER TABLE verifications ADD COLUMN retain_until BIGINT;

ALTER TABLE verifications ADD COLUMN delete_after BIGINT;

CREATE INDEX verifications_retain ON verifications (tenant_id, retain_until);

CREATE INDEX verifications_delete ON verifications (tenant_id, delete_after);

CREATE INDEX verifications_expiry ON verifications (tenant_id, status, expires_at);

CREATE INDEX jobs_kind ON jobs (tenant_id, kind, status);
