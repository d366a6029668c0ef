-- a row the readiness check writes (proves the database takes writes, not only reads)

CREATE TABLE readiness_probe (id BIGINT PRIMARY KEY, at BIGINT NOT NULL);
