-- tenant branding on the capture page: accent colour and logo

ALTER TABLE tenants ADD COLUMN brand_colour TEXT;

ALTER TABLE tenants ADD COLUMN brand_logo TEXT;

ALTER TABLE tenants ADD COLUMN brand_logo_type TEXT;
