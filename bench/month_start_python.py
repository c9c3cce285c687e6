#!/usr/bin/python3
"""month_start_python.py - the month-start batch done the usual Python way,
for bench/month_start.sh to compare sheetq against.

    month_start_python.py PERIOD OUT_DIR [PROCESSES]

Same targets as sheetq's default target query (core/db_report.c), same
records query (ordered by recorded_at, id, streamed), the same sheet: title,
tenant and period rows, header row, frozen panes, column widths, autofilter,
recorded_at as a datetime, cells typed by item kind with the rules of
exporter/cell_value.c, constant_memory mode. One report per task on a
multiprocessing pool of PROCESSES (default: the CPU count), each process with
its own connection, files at OUT_DIR/TENANT/REPORT/PERIOD.xlsx.

Left out, to Python's advantage: sheetq's text cleaning (invalid UTF-8,
control characters, the 32,767-character limit, "_xHHHH_" escapes), splitting
sheets past 1,048,571 rows, the ledger, leases and retries.

Database: SHEETQ_MYSQL_URL (mysql://user[:password]@host[:port]/db[?socket=]).
Prints "python makespan SECONDS wall SECONDS reports N rows N": makespan from
the first task's start to the last task's end, wall including the pool's
start-up and the target query.
"""
import datetime
import json
import math
import multiprocessing
import os
import re
import sys
import time
import urllib.parse

import pymysql
import pymysql.cursors
import xlsxwriter

TARGETS_SQL = """
SELECT r.tenant_id, r.id AS report_id
FROM reports r
JOIN tenants t ON t.id = r.tenant_id
JOIN (SELECT report_id, MIN(recorded_at) AS first_recorded_at
      FROM records
      WHERE recorded_at >= %s AND recorded_at < %s
      GROUP BY report_id) AS active ON active.report_id = r.id
WHERE r.export_schedule = 'monthly'
  AND r.archived_at IS NULL
  AND t.export_enabled <> 0
ORDER BY r.tenant_id, r.id"""

REPORT_SQL = """
SELECT r.id, r.tenant_id, r.name, t.name, i.id, i.position, i.label, i.kind, i.unit
FROM reports r
LEFT JOIN tenants t ON t.id = r.tenant_id
LEFT JOIN report_items i ON i.report_id = r.id
WHERE r.id = %s
ORDER BY i.position, i.id"""

RECORDS_SQL = """
SELECT id, recorded_at, recorded_by, `values`
FROM records
WHERE report_id = %s AND recorded_at >= %s AND recorded_at < %s
ORDER BY recorded_at, id"""

KIND_WIDTH = {"number": 12, "datetime": 20, "boolean": 9, "choice": 16, "text": 24}
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:Z|[+-](\d{2}):(\d{2}))?)?\Z")
WS = " \t\n\r"


def connect():
    u = urllib.parse.urlparse(os.environ["SHEETQ_MYSQL_URL"])
    args = {"user": urllib.parse.unquote(u.username or ""),
            "password": urllib.parse.unquote(u.password or ""),
            "database": u.path.lstrip("/"), "charset": "utf8mb4", "autocommit": True}
    socket = urllib.parse.parse_qs(u.query).get("socket")
    if socket:
        args["unix_socket"] = socket[0]
    else:
        args["host"], args["port"] = u.hostname or "127.0.0.1", u.port or 3306
    return pymysql.connect(**args)


def period_range(period):
    y, m = map(int, period.split("-"))
    start = datetime.datetime(y, m, 1)
    end = datetime.datetime(y + m // 12, m % 12 + 1, 1)
    return start, end


def parse_datetime(s):
    """cell_value.c's sq_cell_parse_datetime: a datetime, a date, or None."""
    m = DATETIME.match(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, oh, om = m.groups()
    if int(y) < 1900 or (oh and int(oh) > 23) or (om and int(om) > 59):
        return None
    try:
        if hh is None:
            return datetime.date(int(y), int(mo), int(d))
        us = int((frac or "0")[:6].ljust(6, "0"))
        return datetime.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0), us)
    except ValueError:
        return None


def number_text(d):
    if not math.isfinite(d):
        return "NaN" if math.isnan(d) else ("Infinity" if d > 0 else "-Infinity")
    if d == int(d) and abs(d) < 1e15:
        return "%.0f" % d
    t = "%.15g" % d
    return t if float(t) == d else "%.17g" % d


def text_form(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number_text(float(v))
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def significant_digits(s):
    """Mantissa digits that carry value; Excel keeps 15 (cell_value.c)."""
    mant = re.split("[eE]", s.lstrip("+-"))[0]
    whole, _, frac = mant.partition(".")
    return len((whole + frac.rstrip("0")).lstrip("0"))


def write_value(ws, row, col, kind, v, fmt_dt, fmt_date):
    """cell_value.c's sq_cell_from_json, then the matching write."""
    if v is None:
        return
    if isinstance(v, str):
        if v == "":
            return
        s = v.strip(WS)
        if kind == "number" and 0 < len(s) <= 128 and DECIMAL.match(s) and significant_digits(s) <= 15:
            d = float(s)
            if math.isfinite(d):
                ws.write_number(row, col, d)
                return
        elif kind == "datetime":
            dt = parse_datetime(s)
            if dt is not None:
                ws.write_datetime(row, col, dt,
                                  fmt_dt if isinstance(dt, datetime.datetime) else fmt_date)
                return
        elif kind == "boolean" and s.lower() in BOOL_WORDS:
            ws.write_boolean(row, col, BOOL_WORDS[s.lower()])
            return
        ws.write_string(row, col, v)
        return
    if isinstance(v, bool):
        if kind == "boolean":
            ws.write_boolean(row, col, v)
        else:
            ws.write_string(row, col, text_form(v))
        return
    if isinstance(v, (int, float)):
        d = float(v)
        if kind == "number" and math.isfinite(d):
            ws.write_number(row, col, d)
        elif kind == "boolean" and d in (0.0, 1.0):
            ws.write_boolean(row, col, d == 1.0)
        else:
            ws.write_string(row, col, text_form(v))
        return
    ws.write_string(row, col, text_form(v))


def display_width(s):
    return sum(2 if ord(c) >= 0x1100 else 1 for c in s)


def sheet_name(name, report_id):
    n = re.sub(r"[\[\]:*?/\\\t\n\r]", " ", name)
    n = re.sub(r" +", " ", n).strip(" '")[:31].strip(" '")
    return n or "Report %d" % report_id


_db = None


def export(args):
    """One report; returns (start, end, rows)."""
    global _db
    tenant_id, report_id, period, out_dir = args
    t0 = time.time()
    if _db is None:
        _db = connect()
    start, end = period_range(period)
    with _db.cursor() as c:
        c.execute(REPORT_SQL, (report_id,))
        rows = c.fetchall()
    name, tenant_name = rows[0][2], rows[0][3]
    items = [r[4:] for r in rows if r[4] is not None]  # id, position, label, kind, unit

    path = os.path.join(out_dir, str(tenant_id), str(report_id), period + ".xlsx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    wb = xlsxwriter.Workbook(path, {"constant_memory": True})
    wb.use_zip64()
    fmt_title = wb.add_format({"bold": True, "font_size": 14})
    fmt_header = wb.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
    fmt_dt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    fmt_date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet(sheet_name(name, report_id))

    labels = ["Recorded at", "Recorded by"]
    widths = [20, 18]
    slots = {}
    for k, (item_id, _pos, label, kind, unit) in enumerate(items):
        text = label + (" (%s)" % unit if unit else "")
        labels.append(text)
        widths.append(min(60, max(display_width(text) + 2, KIND_WIDTH.get(kind, 24))))
        slots[str(item_id)] = (2 + k, kind)
    for col, w in enumerate(widths):
        ws.set_column(col, col, w)
    ws.set_row(0, 21)
    ws.write_string(0, 0, name, fmt_title)
    ws.write_string(1, 0, "Tenant: " + tenant_name)
    ws.write_string(2, 0, "Period: " + period)
    for col, text in enumerate(labels):
        ws.write_string(4, col, text, fmt_header)
    ws.freeze_panes(5, 0)

    row = 5
    with _db.cursor(pymysql.cursors.SSCursor) as c:
        c.execute(RECORDS_SQL, (report_id, start, end))
        for _id, at, by, values in c:
            ws.write_datetime(row, 0, at, fmt_dt)
            if by:
                ws.write_string(row, 1, by)
            try:
                obj = json.loads(values)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                for key, v in obj.items():
                    slot = slots.get(key)
                    if slot is not None:
                        write_value(ws, row, slot[0], slot[1], v, fmt_dt, fmt_date)
            row += 1
    ws.autofilter(4, 0, row - 1, len(labels) - 1)
    wb.close()
    return t0, time.time(), row - 5


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: month_start_python.py PERIOD OUT_DIR [PROCESSES]")
    period, out_dir = sys.argv[1], sys.argv[2]
    procs = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count()
    wall0 = time.time()
    db = connect()
    with db.cursor() as c:
        c.execute(TARGETS_SQL, period_range(period))
        targets = c.fetchall()
    db.close()
    tasks = [(t, r, period, out_dir) for t, r in targets]
    with multiprocessing.Pool(procs) as pool:
        results = list(pool.imap_unordered(export, tasks, chunksize=1))
    wall = time.time() - wall0
    first = min(r[0] for r in results)
    last = max(r[1] for r in results)
    print("python makespan %.3f wall %.3f reports %d rows %d"
          % (last - first, wall, len(results), sum(r[2] for r in results)))


if __name__ == "__main__":
    main()
