/* cell_value.h - what to write in a cell for one value of one record.
 *
 * A record's values are JSON chosen by the customer's clients; an item's kind
 * says what the value should be. sq_cell_from_json() maps the pair to a typed
 * cell, rendering whatever can be rendered and never dropping data: a value
 * that does not fit its kind is written as its text.
 *
 *   any kind        JSON null, "" -> blank
 *   NUMBER          JSON number -> number; a string holding a decimal
 *                   number ("12.5", " 7 ", "1e3", no hex/inf/nan) -> number;
 *                   anything else, or non-finite -> text
 *   DATETIME        "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.f+]]" with an
 *                   optional "Z" or "+HH:MM"/"-HH:MM" after a time -> date;
 *                   the wall-clock time is kept as written and the offset
 *                   ignored (Excel dates have no zone); years 1900..9999 only
 *                   (Excel's range); anything else -> text
 *   BOOLEAN         JSON true/false, numbers 0/1, strings "true" "false"
 *                   "yes" "no" "1" "0" (case-insensitive, trimmed) ->
 *                   boolean; anything else -> text
 *   TEXT, CHOICE    strings as they are (a leading "=" stays text: the
 *                   renderer never writes formulas); numbers and booleans ->
 *                   their JSON text; arrays and objects -> compact JSON
 *
 * Text is returned raw; the renderer cleans it (text_clean.h). Pure apart
 * from the caller's scratch buffer, which is the only memory it touches.
 */
#ifndef SQ_CELL_VALUE_H
#define SQ_CELL_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/report.h"

typedef enum sq_cell_type {
  SQ_CELL_BLANK = 0,
  SQ_CELL_NUMBER,
  SQ_CELL_STRING,
  SQ_CELL_BOOLEAN,
  SQ_CELL_DATETIME,
} sq_cell_type;

/* A calendar date and wall-clock time, already range-checked. */
typedef struct sq_cell_datetime {
  int year;   /* 1900..9999 */
  int month;  /* 1..12 */
  int day;    /* 1..days in month */
  int hour;   /* 0..23 */
  int min;    /* 0..59 */
  double sec; /* 0 <= sec < 60 */
  bool has_time; /* false for "YYYY-MM-DD" */
} sq_cell_datetime;

typedef struct sq_cell {
  sq_cell_type type;
  double number;             /* SQ_CELL_NUMBER, always finite */
  bool boolean;              /* SQ_CELL_BOOLEAN */
  sq_cell_datetime datetime; /* SQ_CELL_DATETIME */
  /* SQ_CELL_STRING: raw bytes, not cleaned. Borrowed from the cJSON value or
   * from the scratch buffer; valid until either changes. */
  const char *text;
  size_t text_len;
} sq_cell;

/* Fills *out for value (NULL means missing: blank) of an item of the given
 * kind. scratch holds text forms of numbers, booleans and JSON containers; it
 * is reset by each call. Returns SQ_OK, or SQ_ENOMEM if scratch cannot grow
 * (its cap is the caller's choice). */
sq_errcode sq_cell_from_json(const cJSON *value, sq_item_kind kind,
                             sq_buf *scratch, sq_cell *out);

/* Parses the ISO-8601 forms listed above from s[0..len) (surrounding ASCII
 * whitespace allowed). Returns false, leaving *out unspecified, otherwise. */
bool sq_cell_parse_datetime(const char *s, size_t len, sq_cell_datetime *out);

/* Parses exactly "YYYY-MM-DD HH:MM:SS" (records.recorded_at as the database
 * driver formats it). NULL or anything else returns false. */
bool sq_cell_parse_recorded_at(const char *s, sq_cell_datetime *out);

#endif
