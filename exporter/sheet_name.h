/* sheet_name.h - the Excel worksheet name for a report.
 *
 * Excel (and libxlsxwriter's workbook_validate_sheet_name()) accept a sheet
 * name of 1 to 31 characters without any of []:*?/\ that neither starts nor
 * ends with an apostrophe. Excel also reserves "History". A report's name is
 * free text, so sq_sheet_name() derives a name that is always accepted:
 *
 *  - the name is cleaned with sq_text_clean(); the forbidden characters and
 *    TAB/LF/CR become spaces, runs of spaces collapse to one, and spaces and
 *    apostrophes are trimmed from both ends;
 *  - an empty result falls back to "Report <id>";
 *  - part 1 is the name itself, part n >= 2 is "<name> (n)", the name cut so
 *    the suffix fits (a reserved name gets " (1)" on part 1 too);
 *  - the length limit counts UTF-16 code units (what Excel counts, and never
 *    less than libxlsxwriter's count of UTF-8 characters); cuts fall on
 *    character boundaries.
 *
 * The parts of one report never collide (case-insensitively) with each other.
 * Pure, no allocation.
 */
#ifndef SQ_SHEET_NAME_H
#define SQ_SHEET_NAME_H

#include <stdint.h>

#define SQ_SHEET_NAME_MAX_CHARS 31
/* Buffer size for a name: 31 characters of up to 4 bytes, plus the NUL. */
#define SQ_SHEET_NAME_CAP (SQ_SHEET_NAME_MAX_CHARS * 4 + 1)

/* Writes the name of sheet `part` (1-based; 0 is treated as 1) of the report
 * named report_name (NULL is treated as "") into out, NUL-terminated. */
void sq_sheet_name(const char *report_name, uint64_t report_id, unsigned part,
                   char out[SQ_SHEET_NAME_CAP]);

#endif
