#!/usr/bin/python3
"""rq_tiny_job.py - the Python RQ peer of sheetq's tiny-job benchmark
(bench/tiny_jobs.sh), with Debian's python3-rq, python3-pymysql and
python3-xlsxwriter.

As an RQ job module, export_report() does what one sheetq job does for a
tiny report: connect to MariaDB, load the report with its tenant and items,
read the period's records, write an xlsx with the same layout (title block,
header row, typed cells, frozen header, autofilter; constant-memory mode)
into a scratch file and rename it into OUTPUT_DIR/tenant/report/period.xlsx.
RQ keeps the job's state in Redis, which stands for sheetq's ledger.

Workers pass this module as their config (`rq worker -c rq_tiny_job`): RQ
imports it in the worker before forking work horses, so PyMySQL and
XlsxWriter are loaded once per worker and not once per job (RQ's own
performance advice). The settings RQ reads from it: REDIS_URL.

As a script:
  rq_tiny_job.py enqueue QUEUE OUTPUT_DIR PERIOD REPORT_ID...
  rq_tiny_job.py measure QUEUE N   prints "N FIRST_START LAST_END" (epoch s)
Both read SHEETQ_MYSQL_URL (for the job) and RQ_REDIS_URL from the environment.
"""
import datetime
import json
import os
import sys
import urllib.parse

import pymysql
import xlsxwriter
from redis import Redis

REDIS_URL = os.environ.get("RQ_REDIS_URL", "redis://127.0.0.1:6379/1")

LOAD_REPORT = (
    "SELECT r.id, r.tenant_id, r.name, t.name, i.id, i.position, i.label, i.kind, i.unit"
    " FROM reports r LEFT JOIN tenants t ON t.id = r.tenant_id"
    " LEFT JOIN report_items i ON i.report_id = r.id"
    " WHERE r.id = %s ORDER BY i.position, i.id")
RECORDS = (
    "SELECT id, recorded_at, recorded_by, `values` FROM records"
    " WHERE report_id = %s AND recorded_at >= %s AND recorded_at < %s"
    " ORDER BY recorded_at, id")


def connect():
    u = urllib.parse.urlsplit(os.environ["SHEETQ_MYSQL_URL"])
    return pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root",
                           password=urllib.parse.unquote(u.password or ""),
                           database=u.path.lstrip("/"), charset="utf8mb4")


def month_bounds(period):
    y, m = (int(x) for x in period.split("-"))
    start = datetime.datetime(y, m, 1)
    end = datetime.datetime(y + (m == 12), m % 12 + 1, 1)
    return start, end


def cell(ws, y, x, kind, v, fmt_dt, fmt_d):
    if v is None:
        return
    if kind == "number" and isinstance(v, (int, float)) and not isinstance(v, bool):
        ws.write_number(y, x, v)
    elif kind == "boolean" and isinstance(v, bool):
        ws.write_boolean(y, x, v)
    elif kind == "datetime" and isinstance(v, str):
        has_time = "T" in v or " " in v
        try:
            d = datetime.datetime.fromisoformat(v.replace("T", " "))
        except ValueError:
            ws.write_string(y, x, v)
            return
        ws.write_datetime(y, x, d, fmt_dt if has_time else fmt_d)
    else:
        ws.write_string(y, x, v if isinstance(v, str) else json.dumps(v))


def export_report(report_id, period, output_dir):
    """One tiny job: returns the number of records written."""
    start, end = month_bounds(period)
    db = connect()
    try:
        with db.cursor() as c:
            c.execute(LOAD_REPORT, (report_id,))
            rows = c.fetchall()
            if not rows:
                raise LookupError(f"report {report_id} not found")
            _, tenant_id, name, tenant_name = rows[0][:4]
            items = [(r[4], r[6], r[7]) for r in rows if r[4] is not None]
            c.execute(RECORDS, (report_id, start, end))
            records = c.fetchall()
    finally:
        db.close()
    final_dir = os.path.join(output_dir, str(tenant_id), str(report_id))
    os.makedirs(final_dir, exist_ok=True)
    final = os.path.join(final_dir, f"{period}.xlsx")
    scratch = f"{final}.tmp{os.getpid()}"
    wb = xlsxwriter.Workbook(scratch, {"constant_memory": True})
    ws = wb.add_worksheet("Report")
    title = wb.add_format({"bold": True, "font_size": 14})
    header = wb.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
    fmt_dt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    fmt_d = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.set_column(0, 1 + len(items), 20)
    ws.set_row(0, 21)
    ws.write_string(0, 0, name, title)
    ws.write_string(1, 0, f"Tenant: {tenant_name}")
    ws.write_string(2, 0, f"Period: {period}")
    ws.write_string(4, 0, "Recorded at", header)
    ws.write_string(4, 1, "Recorded by", header)
    for x, (_, label, _) in enumerate(items):
        ws.write_string(4, 2 + x, label, header)
    ws.freeze_panes(5, 0)
    for y, (_, at, by, values) in enumerate(records, start=5):
        ws.write_datetime(y, 0, at, fmt_dt)
        ws.write_string(y, 1, by)
        values = json.loads(values)
        for x, (item_id, _, kind) in enumerate(items):
            cell(ws, y, 2 + x, kind, values.get(str(item_id)), fmt_dt, fmt_d)
    ws.autofilter(4, 0, 4 + len(records), 1 + len(items))
    wb.close()
    os.rename(scratch, final)
    return len(records)


def main(argv):
    from rq import Queue
    from rq.job import Job
    redis = Redis.from_url(REDIS_URL)
    if len(argv) >= 5 and argv[1] == "enqueue":
        q = Queue(argv[2], connection=redis)
        out, period = argv[3], argv[4]
        jobs = [Queue.prepare_data("rq_tiny_job.export_report", (int(r), period, out), result_ttl=3600)
                for r in argv[5:]]
        for i in range(0, len(jobs), 500):
            q.enqueue_many(jobs[i:i + 500])
        return 0
    if len(argv) == 4 and argv[1] == "measure":
        q = Queue(argv[2], connection=redis)
        ids = q.finished_job_registry.get_job_ids()
        failed = q.failed_job_registry.get_job_ids()
        if len(ids) != int(argv[3]) or failed:
            print(f"rq: {len(ids)} jobs finished, {len(failed)} failed, expected {argv[3]}",
                  file=sys.stderr)
            return 1
        jobs = [j for j in Job.fetch_many(ids, connection=redis) if j is not None]
        epoch = datetime.datetime(1970, 1, 1)
        first = min(j.started_at for j in jobs) - epoch
        last = max(j.ended_at for j in jobs) - epoch
        print(len(jobs), f"{first.total_seconds():.6f}", f"{last.total_seconds():.6f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
