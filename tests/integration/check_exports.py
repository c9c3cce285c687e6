#!/usr/bin/python3
"""Independent check of sheetq's exports.

Reads every file a batch produced with openpyxl and compares it, cell by
cell, with what the database holds (read with PyMySQL, not with sheetq's
code). The expected value of each cell follows the rules in
docs/xlsx-format.md, re-implemented here from the spec.

Usage: check_exports.py --mysql-url URL --root DIR --batch ID [--expect-jobs N]
Exit 0 when every succeeded job's file matches; 1 with a list of differences.
"""
import argparse
import datetime as dt
import json
import math
import os
import re
import sys
import urllib.parse

import openpyxl
import pymysql

XML_BAD = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
ISO = re.compile(r'^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?$')


def connect(url):
    u = urllib.parse.urlparse(url)
    q = urllib.parse.parse_qs(u.query)
    kw = dict(user=urllib.parse.unquote(u.username or 'root'),
              password=urllib.parse.unquote(u.password or ''),
              database=u.path.lstrip('/'), charset='utf8mb4')
    if 'socket' in q:
        kw['unix_socket'] = q['socket'][0]
    else:
        kw['host'] = u.hostname
        kw['port'] = u.port or 3306
    return pymysql.connect(**kw)


def clean(s):
    return XML_BAD.sub('', s)


def parse_iso(s):
    m = ISO.match(s.strip())
    if not m:
        return None
    y, mo, d, h, mi, se, frac, _ = m.groups()
    if not 1900 <= int(y) <= 9999:  # Excel's date range
        return None
    try:
        return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(se or 0),
                           int((frac or '0')[:6].ljust(6, '0')))
    except ValueError:
        return None


def as_text(v):
    if isinstance(v, str):
        return clean(v)
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return json.dumps(v, ensure_ascii=False, separators=(',', ':'))


def significant_digits(s):
    """Mantissa digits that carry value; Excel keeps 15 (cell_value.c)."""
    mant = re.split('[eE]', s.lstrip('+-'))[0]
    whole, _, frac = mant.partition('.')
    return len((whole + frac.rstrip('0')).lstrip('0'))


def expected(kind, v):
    """The cell a JSON value should become, or None for blank."""
    if v is None:
        return None
    if kind == 'number':
        if isinstance(v, bool):
            return as_text(v)
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            try:
                f = float(v.strip())
                if math.isfinite(f) and v.strip() and significant_digits(v.strip()) <= 15:
                    return f
            except ValueError:
                pass
        return as_text(v)
    if kind == 'datetime':
        if isinstance(v, str):
            d = parse_iso(v)
            if d is not None:
                return d
        return as_text(v)
    if kind == 'boolean':
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().lower() in ('true', 'yes', '1'):
            return True
        if isinstance(v, str) and v.strip().lower() in ('false', 'no', '0'):
            return False
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        return as_text(v)
    return as_text(v)


def same(want, got):
    if want is None or want == '':  # Excel has no empty-string cell: blank
        return got is None or got == ''
    if isinstance(want, bool):
        return isinstance(got, bool) and got == want
    if isinstance(want, float):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and \
            math.isclose(float(got), want, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(want, dt.datetime):
        return isinstance(got, dt.datetime) and abs((got - want).total_seconds()) < 0.002
    return isinstance(got, str) and got == want


def check_job(db, root, job, problems):
    job_id, tenant_id, report_id, period, key = job
    path = os.path.join(root, key)
    where = '%s (job %s)' % (key, job_id)
    if not os.path.isfile(path):
        problems.append('%s: file missing' % where)
        return 0
    with db.cursor() as c:
        c.execute('SELECT r.name, t.name FROM reports r JOIN tenants t ON t.id = r.tenant_id '
                  'WHERE r.id = %s', (report_id,))
        rname, tname = c.fetchone()
        c.execute('SELECT id, label, kind, unit FROM report_items WHERE report_id = %s '
                  'ORDER BY position', (report_id,))
        items = c.fetchall()
        start = dt.datetime.strptime(period + '-01', '%Y-%m-%d')
        end = (start + dt.timedelta(days=32)).replace(day=1)
        c.execute('SELECT id, recorded_at, recorded_by, `values` FROM records '
                  'WHERE report_id = %s AND recorded_at >= %s AND recorded_at < %s '
                  'ORDER BY recorded_at, id', (report_id, start, end))
        records = c.fetchall()
    wb = openpyxl.load_workbook(path)
    rows = []
    for ws in wb.worksheets:
        header_row = None
        for r in range(1, 12):
            if ws.cell(r, 1).value == 'Recorded at':
                header_row = r
                break
        if header_row is None:
            problems.append('%s: sheet %r has no header row' % (where, ws.title))
            return 0
        title_text = ' '.join(str(ws.cell(r, 1).value or '') for r in range(1, header_row))
        if clean(rname)[:50] not in title_text or period not in title_text or \
                clean(tname)[:50] not in title_text:
            problems.append('%s: title block lacks report, tenant or period: %r' % (where, title_text))
        header = [ws.cell(header_row, c).value for c in range(1, len(items) + 3)]
        want_header = ['Recorded at', 'Recorded by'] + [
            clean(label) + (' (%s)' % clean(unit) if unit else '') for _, label, _, unit in items]
        if header != want_header:
            problems.append('%s: header %r != %r' % (where, header[:6], want_header[:6]))
        if ws.freeze_panes is None:
            problems.append('%s: header not frozen' % where)
        if not ws.auto_filter or not ws.auto_filter.ref:
            problems.append('%s: no autofilter' % where)
        for r in ws.iter_rows(min_row=header_row + 1, max_col=len(items) + 2):
            rows.append(r)
    if len(rows) != len(records):
        problems.append('%s: %d data rows, database has %d records' % (where, len(rows), len(records)))
    for row, (rid, rat, rby, values) in zip(rows, records):
        cells = [c.value for c in row]
        if cells[0] != rat:
            problems.append('%s: record %d: Recorded at %r != %r' % (where, rid, cells[0], rat))
        if cells[1] != clean(rby):
            problems.append('%s: record %d: Recorded by %r != %r' % (where, rid, cells[1], rby))
        try:
            obj = json.loads(values)
            if not isinstance(obj, dict):
                obj = {}
        except ValueError:
            obj = {}
        for col, (iid, label, kind, _) in enumerate(items, start=2):
            want = expected(kind, obj.get(str(iid)))
            got = cells[col] if col < len(cells) else None
            if not same(want, got):
                problems.append('%s: record %d item %d (%s): want %r, got %r' %
                                (where, rid, iid, kind, want, got))
        for c in row:
            if c.data_type == 'f':
                problems.append('%s: record %d: a formula cell %r' % (where, rid, c.value))
        if len(problems) > 50:
            return len(records)
    return len(records)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--mysql-url', required=True)
    ap.add_argument('--root', required=True)
    ap.add_argument('--batch', required=True)
    ap.add_argument('--expect-jobs', type=int)
    a = ap.parse_args()
    db = connect(a.mysql_url)
    with db.cursor() as c:
        c.execute("SELECT id, tenant_id, report_id, period, output_key FROM sheetq_jobs "
                  "WHERE batch_id = %s AND state = 'succeeded' ORDER BY id", (a.batch,))
        jobs = c.fetchall()
        c.execute("SELECT COUNT(*) FROM sheetq_jobs WHERE batch_id = %s", (a.batch,))
        total = c.fetchone()[0]
    problems = []
    if a.expect_jobs is not None and len(jobs) != a.expect_jobs:
        problems.append('%d jobs succeeded, expected %d (of %d in the batch)' %
                        (len(jobs), a.expect_jobs, total))
    records = 0
    for job in jobs:
        records += check_job(db, a.root, job, problems)
        if len(problems) > 50:
            break
    for p in problems[:50]:
        print('MISMATCH', p)
    print('checked %d file(s), %d record(s): %d problem(s)' % (len(jobs), records, len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
