/* placeholder: being written */ typedef int sq_placeholder_cell_value;
