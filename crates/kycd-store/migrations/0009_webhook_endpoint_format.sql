-- webhook endpoints choose their body format (kycd or a vendor dialect's); deliveries by event

ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT 'kycd';

-- The sweep forgets old events once no delivery refers to them.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
