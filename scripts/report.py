"""Write the one-page HTML report of the DM models (x_dm__events, x_dm__conversations,
x_dm__response_times): DMs per day in and out, the first-response time by conversation
kind, the conversations waiting for a reply.

    .venv/bin/python -m scripts.report                       # -> x_dm_report.html
    .venv/bin/python -m scripts.report --days 30 --output /tmp/dm.html

It connects as dbt does, with DBT_POSTGRES_HOST, _PORT, _USER, _PASSWORD, _DBNAME and
reads the schema DBT_POSTGRES_SCHEMA (default x_dm_analytics); unset ones fall back to
libpq's PGHOST, PGPORT, ... The page is static: inline SVG and CSS, nothing fetched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from scripts.report_html import ReportData, Waiting, render

MODELS = ("x_dm__events", "x_dm__conversations", "x_dm__response_times")


def connection_params() -> dict[str, str]:
    """dbt-postgres' settings from the environment, else libpq's, else meltano.yml's defaults."""
    env = os.environ
    params = {
        "host": env.get("DBT_POSTGRES_HOST") or env.get("PGHOST") or "localhost",
        "port": env.get("DBT_POSTGRES_PORT") or env.get("PGPORT") or "5432",
        "user": env.get("DBT_POSTGRES_USER") or env.get("PGUSER") or "postgres",
        "password": env.get("DBT_POSTGRES_PASSWORD") or env.get("PGPASSWORD") or "",
        "dbname": env.get("DBT_POSTGRES_DBNAME") or env.get("PGDATABASE") or "postgres",
    }
    return {key: value for key, value in params.items() if value}


def connect() -> Any:
    """A DB-API connection (psycopg 3, else psycopg2); a failure is one line, no traceback."""
    params = connection_params()
    where = f"PostgreSQL at {params['host']}:{params['port']} as {params['user']}"
    try:
        import psycopg as driver
    except ImportError:
        try:
            import psycopg2 as driver  # type: ignore[no-redef]
        except ImportError:
            raise SystemExit(
                "The report needs a PostgreSQL driver: .venv/bin/pip install 'psycopg[binary]' "
                "(scripts/bootstrap.sh installs it)."
            ) from None
    try:
        return driver.connect(**params, connect_timeout=10)
    except driver.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SystemExit(
            f"Cannot connect to {where} ({reason}): set DBT_POSTGRES_HOST, _PORT, _USER, "
            "_PASSWORD and _DBNAME as for dbt."
        ) from None


def query(connection: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def read(
    connection: Any, schema: str, *, days: int, account_id: str | None, today: dt.date
) -> ReportData:
    """Read what the page shows from the models in `schema`."""
    listed = query(
        connection,
        "select table_name from information_schema.tables where table_schema = %(schema)s",
        {"schema": schema},
    )
    tables = {row[0] for row in listed}
    missing = [name for name in MODELS if name not in tables]
    if missing:
        raise SystemExit(
            f"Schema {schema} lacks the model(s) {', '.join(missing)}: build them first "
            "(meltano invoke dbt-postgres:build), or point DBT_POSTGRES_SCHEMA at their schema."
        )
    first_day = today - dt.timedelta(days=days - 1)
    params = {"first_day": first_day, "account_id": account_id}
    only = "and (%(account_id)s::text is null or account_id = %(account_id)s::text)"
    sql = f"select distinct account_id from {schema}.x_dm__events where true {only} order by 1"
    accounts = [row[0] for row in query(connection, sql, params)]
    data = ReportData(
        accounts=accounts,
        first_day=first_day,
        last_day=today,
        generated_at=dt.datetime.now(dt.timezone.utc),
    )
    for day, inbound, outbound in query(
        connection,
        f"select (created_at at time zone 'UTC')::date, count(*) filter (where direction = "
        f"'inbound'), count(*) filter (where direction = 'outbound') from {schema}.x_dm__events "
        f"where event_type = 'MessageCreate' and created_at >= %(first_day)s::date at time zone "
        f"'UTC' {only} group by 1",
        params,
    ):
        data.per_day[day] = (int(inbound), int(outbound))
    for kind, seconds in query(
        connection,
        f"select conversation_kind, response_seconds from {schema}.x_dm__response_times "
        f"where inbound_at >= %(first_day)s::date at time zone 'UTC' {only}",
        params,
    ):
        data.responses.setdefault(kind, []).append(None if seconds is None else float(seconds))
    for conversation, kind, counterpart, since, messages_in in query(
        connection,
        f"select dm_conversation_id, kind, coalesce('@' || counterpart_username, counterpart_id, "
        f"'group of ' || cardinality(participant_ids)), awaiting_reply_since, "
        f"messages_in "
        f"from {schema}.x_dm__conversations where awaiting_reply {only} "
        f"order by awaiting_reply_since, dm_conversation_id",
        params,
    ):
        data.waiting.append(Waiting(conversation, kind, counterpart, since, int(messages_in)))
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("x_dm_report.html"))
    parser.add_argument(
        "--schema",
        default=os.environ.get("DBT_POSTGRES_SCHEMA") or "x_dm_analytics",
        help="the models' schema (default DBT_POSTGRES_SCHEMA, else x_dm_analytics)",
    )
    parser.add_argument("--days", type=int, default=30, help="the period, ending today (UTC)")
    parser.add_argument("--account-id", help="one account of several (default: all)")
    args = parser.parse_args(argv)
    if not args.schema.replace("_", "").isalnum():
        parser.error(f"--schema {args.schema!r} is not a plain schema name")
    if args.days < 1:
        parser.error("--days must be at least 1")
    today = dt.datetime.now(dt.timezone.utc).date()
    connection = connect()
    try:
        data = read(
            connection, args.schema, days=args.days, account_id=args.account_id, today=today
        )
    finally:
        connection.close()
    args.output.write_text(render(data), encoding="utf-8")
    turns = sum(len(t) for t in data.responses.values())
    print(
        f"Wrote {args.output}: {sum(sum(c) for c in data.per_day.values())} DMs over "
        f"{args.days} days, {turns} turns, {len(data.waiting)} conversations waiting.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
