/* placeholder: being written */ typedef int sq_placeholder_sheet_name;
