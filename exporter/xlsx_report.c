/* placeholder: being written */ typedef int sq_placeholder_xlsx_report;
