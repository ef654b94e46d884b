/*-------------------------------------------------------------------------
 *
 * wire.h
 *		  Parsers for what Close sends on the wire that need nothing from
 *		  PostgreSQL, so that a fuzzer can exercise them on their own.
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

#endif							/* CLOSECRM_WIRE_H */
