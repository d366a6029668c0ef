-- evidence signing keys

CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            alg TEXT NOT NULL,
            private_enc TEXT NOT NULL,
            public_jwk TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            retired_at BIGINT);

CREATE INDEX signing_keys_tenant ON signing_keys (tenant_id, created_at);
