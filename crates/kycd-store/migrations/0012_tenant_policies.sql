-- versioned default policy per tenant (each verification still stores the policy it runs under)

CREATE TABLE tenant_policies (
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            version BIGINT NOT NULL,
            policy_json TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, version));
