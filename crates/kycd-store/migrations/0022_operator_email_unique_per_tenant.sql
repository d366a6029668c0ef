-- operator emails unique within a tenant, not across tenants (an invitation does not reveal another tenant's operator)

DROP INDEX operators_email;

CREATE UNIQUE INDEX operators_tenant_email ON operators (tenant_id, email);

CREATE INDEX operators_email ON operators (email);
