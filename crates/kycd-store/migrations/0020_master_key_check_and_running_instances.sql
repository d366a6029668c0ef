-- the master key's check value and rotation progress; the serving instances (a rotation waits for none)

CREATE TABLE master_key (
            id BIGINT PRIMARY KEY,
            check_value TEXT NOT NULL,
            rotating_to TEXT,
            rotation_table TEXT,
            rotation_after TEXT,
            updated_at BIGINT NOT NULL);

CREATE TABLE running_instances (
            id TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            seen_at BIGINT NOT NULL);
