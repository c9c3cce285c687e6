#!/usr/bin/python3
"""Dump an .xlsx as JSON lines with an independent reader (openpyxl), for
tests/unit/test_xlsx_report.c.

One line per sheet:
  {"sheet": i, "name": ..., "freeze": "A6", "filter": "A5:H9",
   "max_row": n, "widths": {"A": 20.7, ...}}
then one line per non-empty cell:
  {"sheet": i, "row": r, "col": c, "type": data_type, "value": v,
   "format": number_format, "bold": bool}
Rows and columns are 1-based as in openpyxl; datetimes are ISO strings.
Exit 77 (skip) when openpyxl is missing."""
import datetime
import json
import sys

try:
    import openpyxl
except ImportError:
    sys.exit(77)


def main(path):
    wb = openpyxl.load_workbook(path)
    for i, ws in enumerate(wb.worksheets):
        print(json.dumps({
            "sheet": i, "name": ws.title, "freeze": ws.freeze_panes,
            "filter": ws.auto_filter.ref, "max_row": ws.max_row,
            "widths": {k: v.width for k, v in ws.column_dimensions.items()},
        }, ensure_ascii=False))
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                value = cell.value
                if isinstance(value, (datetime.datetime, datetime.date)):
                    value = value.isoformat()
                print(json.dumps({
                    "sheet": i, "row": cell.row, "col": cell.column,
                    "type": cell.data_type, "value": value,
                    "format": cell.number_format,
                    "bold": bool(cell.font and cell.font.b),
                }, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
