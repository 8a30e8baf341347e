"""Local ClickHouse endpoint: the real ClickHouse engine (chDB) behind ClickHouse's HTTP interface."""
