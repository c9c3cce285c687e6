/* text_clean.h - make any byte string safe to put in an xlsx cell.
 *
 * Customers' records hold whatever their clients sent: invalid UTF-8, control
 * characters, megabytes of pasted text. An xlsx cell holds XML 1.0 text of at
 * most 32,767 characters (Excel counts UTF-16 code units; libxlsxwriter 1.1.4
 * counts UTF-8 characters and rejects longer strings with
 * LXW_ERROR_MAX_STRING_LENGTH_EXCEEDED). sq_text_clean() copies a string into
 * a caller buffer so that it always satisfies both:
 *
 *  - each invalid UTF-8 sequence (maximal ill-formed subpart, as in Unicode
 *    3.9 "U+FFFD substitution of maximal subparts") becomes one U+FFFD, so the
 *    reader sees that something was there;
 *  - characters XML 1.0 cannot hold are dropped: C0 controls except TAB, LF
 *    and CR, U+FFFE, U+FFFF, and UTF-8-encoded surrogates (ED A0..BF xx);
 *  - text longer than the limit is cut at a character boundary and ends with
 *    SQ_TEXT_TRUNCATED_MARKER, the whole still within the limit.
 *
 * Pure, no allocation. Clean, short input costs one copying scan.
 */
#ifndef SQ_TEXT_CLEAN_H
#define SQ_TEXT_CLEAN_H

#include <stdbool.h>
#include <stddef.h>

/* Excel's cell limit, in UTF-16 code units (a character outside the BMP
 * counts twice, which keeps libxlsxwriter's per-character count within the
 * limit too). */
#define SQ_TEXT_CELL_MAX_CHARS 32767
/* Output buffer size that can hold any cleaned cell: at most 3 UTF-8 bytes
 * per UTF-16 code unit, plus the NUL. */
#define SQ_TEXT_CLEAN_CAP (3 * SQ_TEXT_CELL_MAX_CHARS + 1)
/* Appended to cut text: "…[truncated]" (14 bytes, 12 characters). */
#define SQ_TEXT_TRUNCATED_MARKER "\xe2\x80\xa6[truncated]"

/* Cleans in[0..len) (in may be NULL when len is 0) into out, NUL-terminated,
 * and returns the output length without the NUL. The output holds at most
 * max_chars UTF-16 code units and out_cap - 1 bytes; when the cleaned text
 * does not fit it is cut and ends with the marker (omitted only when the
 * limits are too small to hold it) and *truncated is set to true (truncated
 * may be NULL). out_cap must be at least 1. Cleaning clean text is the
 * identity, so the function can also be used just to cut. */
size_t sq_text_clean_n(const char *in, size_t len, size_t max_chars, char *out,
                       size_t out_cap, bool *truncated);

/* sq_text_clean_n() with max_chars = SQ_TEXT_CELL_MAX_CHARS. With
 * out_cap >= SQ_TEXT_CLEAN_CAP only the character limit applies. */
size_t sq_text_clean(const char *in, size_t len, char *out, size_t out_cap,
                     bool *truncated);

#endif
