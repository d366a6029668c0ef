-- the reviewer's free text (reason, message) sealed apart from the rest of the review

ALTER TABLE verifications ADD COLUMN review_enc TEXT;
