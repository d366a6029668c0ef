-- webhook endpoints, events (outbox) and deliveries

CREATE TABLE webhook_endpoints (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            url TEXT NOT NULL,
            description TEXT,
            events_json TEXT NOT NULL,
            secret_enc TEXT NOT NULL,
            old_secret_enc TEXT,
            old_secret_until BIGINT,
            enabled BIGINT NOT NULL,
            disabled_reason TEXT,
            failing_since BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);

CREATE TABLE webhook_events (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            final BIGINT NOT NULL,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL);

CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
            event_id TEXT NOT NULL REFERENCES webhook_events(id),
            status TEXT NOT NULL,
            attempts BIGINT NOT NULL,
            next_attempt_at BIGINT,
            last_attempt_at BIGINT,
            last_status_code BIGINT,
            last_error TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL);

CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, created_at);
