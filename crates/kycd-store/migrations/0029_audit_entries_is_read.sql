-- audit entries say whether they record a read: a report's timeline skips the reads by index instead of scanning them

ALTER TABLE audit_entries ADD COLUMN is_read BIGINT NOT NULL DEFAULT 0;

-- The same rule as `repo_audit::is_read_action`.
UPDATE audit_entries SET is_read = 1 WHERE action LIKE '%.read' OR action LIKE 'console.%.viewed%';

CREATE INDEX audit_object_changes ON audit_entries (tenant_id, object_id, is_read, seq);
