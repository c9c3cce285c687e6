/* placeholder: being written */ typedef int sq_placeholder_storage_file;
