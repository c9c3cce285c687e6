/* report.c - lifetime of sq_report. */
#include "core/report.h"

#include <stdlib.h>
#include <string.h>

void sq_report_free(sq_report *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n_items; i++) {
    free(r->items[i].label);
    free(r->items[i].unit);
  }
  free(r->items);
  free(r->name);
  free(r->tenant_name);
  memset(r, 0, sizeof *r);
}
