-- sender identities per tenant (BoldSign OnBehalfOf)

CREATE TABLE sender_identities (
            id TEXT PRIMARY KEY,
            tenant_id TEXT NOT NULL REFERENCES tenants(id),
            email_bidx TEXT NOT NULL,
            email_enc TEXT NOT NULL,
            name_enc TEXT,
            created_at BIGINT NOT NULL);

CREATE UNIQUE INDEX sender_identities_email ON sender_identities (tenant_id, email_bidx);
