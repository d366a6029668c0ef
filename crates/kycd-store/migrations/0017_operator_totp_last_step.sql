-- the last TOTP time step an operator signed in with (a code works once)

ALTER TABLE operators ADD COLUMN totp_last_step BIGINT;
