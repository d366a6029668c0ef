-- origins that may embed a tenant's capture pages in a frame

ALTER TABLE tenants ADD COLUMN frame_ancestors TEXT;
