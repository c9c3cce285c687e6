/* cell_text.h - text made ready for worksheet_write_string(): cleaned
 * (text_clean.h) and with literal "_xHHHH_" protected.
 *
 * Excel reads "_xHHHH_" in cell text as an escaped character, and
 * libxlsxwriter 1.1.4 does not protect literal occurrences, so a value
 * "_x0041_" would show as "A". Such underscores are written as "_x005F_",
 * and the result is cut again if that pushed it past the cell limit. */
#ifndef SQ_CELL_TEXT_H
#define SQ_CELL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "exporter/text_clean.h"

/* Writes the ready text of s[0..len) to out (capacity SQ_TEXT_CLEAN_CAP),
 * NUL-terminated; returns its length (0: a blank cell). escaped is scratch
 * of SQ_CELL_TEXT_ESCAPED_CAP bytes, used only when s holds "_xHHHH_".
 * *cut tells whether the text was truncated. */
size_t sq_cell_text(const char *s, size_t len, char *out, char *escaped, bool *cut);

/* Escaping grows text by at most 6/7: twice the clean size is enough. */
#define SQ_CELL_TEXT_ESCAPED_CAP (2 * SQ_TEXT_CLEAN_CAP)

#endif
