/*-------------------------------------------------------------------------
 *
 * wire.h
 *		  Parsers and sanitisers for what Close sends on the wire that need
 *		  nothing from PostgreSQL, so that a fuzzer can exercise them on
 *		  their own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLOSECRM_WIRE_H
#define CLOSECRM_WIRE_H

#include <stdbool.h>
#include <stddef.h>

/* What a RateLimit header says; -1 for a part it does not say. */
typedef struct CloseRateLimit
{
	double		limit;
	double		remaining;
	double		reset;			/* seconds */
} CloseRateLimit;

extern bool close_parse_ratelimit(const char *value, size_t len,
								  CloseRateLimit *out);
extern double close_parse_seconds(const char *value, size_t len);

extern int	close_utf8_seqlen(const unsigned char *p, size_t avail);
extern size_t close_utf8_sanitize(const char *in, size_t len, char *out,
								  bool controls_to_space);
extern size_t close_json_replace_nul_escapes(const char *text, size_t len,
											 char *out);

#endif							/* CLOSECRM_WIRE_H */
