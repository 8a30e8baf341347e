-- How feedpulse expects the app's raw event tables on a ClickHouse cluster.
--
-- Each shard holds a part of the users (sharding key cityHash64(user_id)), each part replicated
-- (ReplicatedMergeTree, one replica per host of the shard). The app writes into, and feedpulse
-- reads from, the Distributed tables `feed_actions` / `message_actions`: they are what
-- FEEDPULSE_SOURCE_DATABASE points at (dbt's source `app`), so the ETL sees every shard.
--
-- Layout of the local tables, as in the single-server schema (feedpulse/simulator/sql.py):
--   PARTITION BY toDate(time)   the daily ETL reads one partition a day; re-loading a day of raw
--                               events is a DROP/REPLACE PARTITION
--   ORDER BY (time, user_id)    the 15-minute anomaly queries and dashboards are range scans on time
-- Columns and types are the ones the ETL reads (`feedpulse doctor` checks them), with the original
-- spelling `reciever_id`.
--
-- {shard} and {replica} are the macros of each host's config (<macros>); `feedpulse` is the
-- cluster of <remote_servers> (CLICKHOUSE_CLUSTER). Run once from any host:
--   clickhouse-client --multiquery < deploy/clickhouse/source_tables.sql

CREATE DATABASE IF NOT EXISTS app ON CLUSTER feedpulse;

CREATE TABLE IF NOT EXISTS app.feed_actions_local ON CLUSTER feedpulse
(
    user_id   UInt32,
    post_id   UInt32,
    action    LowCardinality(String),  -- 'view' | 'like'
    time      DateTime,
    gender    Int8,
    age       Int16,
    country   LowCardinality(String),
    city      LowCardinality(String),
    os        LowCardinality(String),
    source    LowCardinality(String),
    exp_group Int8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(time)
ORDER BY (time, user_id);

CREATE TABLE IF NOT EXISTS app.message_actions_local ON CLUSTER feedpulse
(
    user_id     UInt32,                -- sender
    reciever_id UInt32,                -- receiver (sic: the source's spelling)
    time        DateTime,
    source      LowCardinality(String),
    exp_group   Int8,
    gender      Int8,
    age         Int16,
    country     LowCardinality(String),
    city        LowCardinality(String),
    os          LowCardinality(String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(time)
ORDER BY (time, user_id);

-- The tables everyone uses: same columns, rows routed to a shard by user, reads fan out to all.
CREATE TABLE IF NOT EXISTS app.feed_actions ON CLUSTER feedpulse AS app.feed_actions_local
ENGINE = Distributed(feedpulse, app, feed_actions_local, cityHash64(user_id));

CREATE TABLE IF NOT EXISTS app.message_actions ON CLUSTER feedpulse AS app.message_actions_local
ENGINE = Distributed(feedpulse, app, message_actions_local, cityHash64(user_id));

-- Re-loading one day of raw events on every shard (e.g. after a late upstream fix):
--   ALTER TABLE app.feed_actions_local ON CLUSTER feedpulse DROP PARTITION '2026-11-01';
--   INSERT INTO app.feed_actions SELECT ...;   -- through the Distributed table
