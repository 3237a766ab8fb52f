#!/bin/sh
# One server, two databases: Airflow's metadata and the hub store, each with its own owner.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE USER airflow WITH PASSWORD '${AIRFLOW_DB_PASSWORD}';
CREATE DATABASE airflow OWNER airflow;
CREATE USER custhub WITH PASSWORD '${CUSTHUB_DB_PASSWORD}';
CREATE DATABASE custhub OWNER custhub;
SQL
