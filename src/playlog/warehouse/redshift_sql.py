"""The SQL the Redshift adapter sends, as pure functions (no I/O), so it is tested exactly.

    copy_sql('"g"."e"', ["a", "b"], "s3://b/_manifests/x.json", iam_role="arn:r")
    # COPY "g"."e" ("a", "b") FROM 's3://b/_manifests/x.json' IAM_ROLE 'arn:r'
    #   FORMAT AS PARQUET MANIFEST          (one line)

Why the COPY looks like this (Redshift Database Developer Guide, "COPY from columnar
data formats", "Column mapping options", "Using a manifest to specify data files"):

- Column list: Parquet columns map to table columns by position. Without a list, the
  table's and the file's column counts must match, so a file written before an
  ``ALTER TABLE ADD COLUMN`` would no longer load. ``COPY t (c1, c2) ... FORMAT AS
  PARQUET`` names the targets in file order (AWS's own aws-sdk-pandas generates this
  form; Redshift also reports "NOT NULL column without DEFAULT must be included in
  column list" for Parquet COPYs), so old and new files both load.
- Authorization: the columnar page lists IAM_ROLE and CREDENTIALS among the only
  parameters supported, not ACCESS_KEY_ID/SECRET_ACCESS_KEY, so keys travel as
  ``CREDENTIALS 'aws_access_key_id=...;aws_secret_access_key=...'``.
- No REGION: "REGION argument is not supported for PARQUET based COPY"; the bucket
  must be in the cluster's region.
- MANIFEST: one COPY loads exactly the batch's files. Parquet manifests need
  ``meta.content_length`` on every entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from typing import Any

from playlog.avro.types import Column
from playlog.names import quote
from playlog.warehouse import sql
from playlog.warehouse.types import RedshiftTypes, string_literal

MANIFEST_PREFIX = "_manifests/"


def literal(value: str) -> str:
    """A SQL string literal. Backslashes are refused rather than escaped: Redshift (a
    PostgreSQL 8.0 descendant) may treat them as escapes, and no ARN, key or S3 URI
    we write needs one."""
    if "\\" in value or "\x00" in value:
        raise ValueError(f"refusing a backslash or NUL in a COPY literal: {value!r}")
    return string_literal(value)


def copy_sql(
    table_quoted: str,
    columns: Sequence[str],
    manifest_uri: str,
    iam_role: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    region: str | None = None,
) -> str:
    """One COPY of a manifest's Parquet files into the named columns, in file order."""
    if region is not None:
        raise ValueError(
            "COPY ... FORMAT AS PARQUET does not accept REGION; use a bucket "
            "in the cluster's region"
        )
    names = ", ".join(quote(c) for c in columns)
    return (
        f"COPY {table_quoted} ({names}) FROM {literal(manifest_uri)} "
        f"{authorization_sql(iam_role, access_key_id, secret_access_key, session_token)} "
        "FORMAT AS PARQUET MANIFEST"
    )


def authorization_sql(
    iam_role: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None = None,
) -> str:
    if iam_role is not None:
        if access_key_id is not None or secret_access_key is not None:
            raise ValueError("give an IAM role or access keys for COPY, not both")
        return f"IAM_ROLE {literal(iam_role)}"
    if not access_key_id or not secret_access_key:
        raise ValueError("COPY needs an IAM role or an access key id and secret")
    parts = [f"aws_access_key_id={access_key_id}", f"aws_secret_access_key={secret_access_key}"]
    if session_token:
        parts.append(f"token={session_token}")
    if any(";" in p.split("=", 1)[1] for p in parts):
        raise ValueError("a ';' in a COPY credential would split the CREDENTIALS string")
    return f"CREDENTIALS {literal(';'.join(parts))}"


def manifest_json(uris: Sequence[str], sizes: Sequence[int]) -> bytes:
    """A COPY manifest: every file mandatory (a missing one fails the load instead of
    silently loading less), with the content length Parquet manifests require."""
    if len(uris) != len(sizes):
        raise ValueError("one size per uri")
    entries = [
        {"url": uri, "mandatory": True, "meta": {"content_length": int(size)}}
        for uri, size in zip(uris, sizes, strict=True)
    ]
    return json.dumps({"entries": entries}, separators=(",", ":")).encode()


def manifest_key(task_ids: Sequence[str]) -> str:
    """The same tasks always make the same key: a retried load rewrites the same
    object, and two loaders racing on a redelivered batch write identical bytes."""
    digest = hashlib.sha256("\n".join(sorted(task_ids)).encode()).hexdigest()[:32]
    return f"{MANIFEST_PREFIX}{digest}.json"


def lock_sql(tables_quoted: Collection[str]) -> str:
    """Lock the batch's tables, sorted, before anything reads the ledger.

    The ledger's primary key is not enforced by Redshift, and under SNAPSHOT isolation
    (the default on Serverless) two transactions inserting the same task id both
    commit. Both must lock the task's table first, so the second waits, and its
    snapshot (taken by its first SELECT, not by LOCK) then sees the first's ledger
    rows. One statement, sorted names: a fixed lock order, no deadlock."""
    return "LOCK " + ", ".join(sorted(tables_quoted))


def add_column_sql(table_quoted: str, column: Column, name: str | None = None) -> str:
    """Redshift adds one column per ALTER TABLE. ``name`` overrides the column's."""
    return sql.add_column_sql(table_quoted, column, RedshiftTypes(), name)


def widen_column_sql(table_quoted: str, column: Column) -> list[str]:
    """Widen a numeric column along an Avro promotion (int -> long, ...). Redshift's
    ALTER COLUMN TYPE only grows VARCHARs, so: add a column of the new type, copy,
    drop the old one, rename. Run in one transaction. The column moves to the end of
    the table, which is harmless because every COPY names its columns."""
    temp_name = f"{column.name}__playlog_widen"
    temp, name = quote(temp_name), quote(column.name)
    return [
        add_column_sql(table_quoted, column, temp_name),
        f"UPDATE {table_quoted} SET {temp} = {name}",
        f"ALTER TABLE {table_quoted} DROP COLUMN {name}",
        f"ALTER TABLE {table_quoted} RENAME COLUMN {temp} TO {name}",
    ]


# Where a failed COPY's reasons are: SYS_LOAD_ERROR_DETAIL (also on Serverless and
# concurrency-scaling clusters), else STL_LOAD_ERRORS (provisioned clusters). Both are
# read right after the ROLLBACK, for the session's last COPY. Parquet COPYs log only
# some errors there; the driver's message always comes first.
LOAD_ERRORS_SQL = (
    "SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, TRIM(error_message) "
    "FROM sys_load_error_detail WHERE query_id = pg_last_copy_id() "
    "ORDER BY start_time LIMIT 5"
)
STL_LOAD_ERRORS_SQL = (
    "SELECT TRIM(filename), line_number, TRIM(colname), err_code, TRIM(err_reason) "
    "FROM stl_load_errors WHERE query = pg_last_copy_id() "
    "ORDER BY starttime LIMIT 5"
)


def format_load_errors(rows: Sequence[Sequence[Any]]) -> str:
    """``file:line column 'c': [code] reason; ...`` (empty when nothing was logged)."""
    return "; ".join(
        f"{file}:{line} column {column!r}: [{code}] {reason}"
        for file, line, column, code, reason in rows
    )
