-- The store's DuckDB schema: physical tables (prefixed t_) and the views of the SQL surface
-- (DESIGN.md "SQL surface"). item_id is VARCHAR everywhere: integer catalog ids are stored as their
-- decimal string and the original type is kept in t_meta ('item_id_type').

CREATE TABLE IF NOT EXISTS t_meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS t_runs (
    run_id BIGINT PRIMARY KEY, command VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    status VARCHAR, counts JSON);

CREATE TABLE IF NOT EXISTS t_items (
    item_id VARCHAR PRIMARY KEY, title VARCHAR, content_hash VARCHAR,
    first_seen_run BIGINT, last_changed_run BIGINT);

-- one row per (item, modality): the hash of what that modality's encoder reads
CREATE TABLE IF NOT EXISTS t_item_content (
    item_id VARCHAR, modality VARCHAR, content_hash VARCHAR, encoder_id VARCHAR, status VARCHAR,
    PRIMARY KEY (item_id, modality));

-- the embedding cache: one vector per (encoder, content hash); rows are only ever added
CREATE TABLE IF NOT EXISTS t_embeddings (encoder_id VARCHAR, content_hash VARCHAR, vector FLOAT[]);

CREATE TABLE IF NOT EXISTS t_tokenizer_versions (
    version VARCHAR, modality VARCHAR, created_at TIMESTAMP, levels INTEGER, codebook_size INTEGER,
    config JSON, stats JSON, is_current BOOLEAN, parent_version VARCHAR, run_id BIGINT,
    PRIMARY KEY (version, modality));

CREATE TABLE IF NOT EXISTS t_item_codes (
    item_id VARCHAR, modality VARCHAR, version VARCHAR, codes INTEGER[], suffix INTEGER, sid VARCHAR,
    run_id BIGINT, PRIMARY KEY (item_id, modality, version));

CREATE TABLE IF NOT EXISTS t_errors (
    run_id BIGINT, item_id VARCHAR, modality VARCHAR, stage VARCHAR, reason VARCHAR);

-- training interactions imported by `motorec train` (degrees drive ARA weights and cold/warm labels)
CREATE TABLE IF NOT EXISTS t_interactions (
    user_id VARCHAR, item_id VARCHAR, "timestamp" TIMESTAMP, weight FLOAT);

-- metrics written by `motorec evaluate` (and the benchmark), read by `motorec report`
CREATE TABLE IF NOT EXISTS t_evaluations (
    run_id BIGINT, model VARCHAR, setting VARCHAR, metric VARCHAR, k INTEGER, value DOUBLE);

CREATE OR REPLACE VIEW items AS SELECT * FROM t_items;
CREATE OR REPLACE VIEW runs AS SELECT * FROM t_runs;
CREATE OR REPLACE VIEW errors AS SELECT * FROM t_errors;
CREATE OR REPLACE VIEW interactions AS SELECT * FROM t_interactions;
CREATE OR REPLACE VIEW evaluations AS SELECT * FROM t_evaluations;
CREATE OR REPLACE VIEW tokenizer_versions AS
    SELECT version, modality, created_at, levels, codebook_size, config, stats, is_current,
           parent_version, run_id
    FROM t_tokenizer_versions;
CREATE OR REPLACE VIEW item_degrees AS
    SELECT i.item_id, COALESCE(d.degree, 0) AS degree
    FROM t_items i LEFT JOIN (SELECT item_id, count(*) AS degree FROM t_interactions GROUP BY item_id) d
    USING (item_id);
