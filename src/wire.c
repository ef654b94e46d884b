/*-------------------------------------------------------------------------
 *
 * wire.c
 *		  Parsers for Close's rate-limit headers.  Plain C with no
 *		  PostgreSQL dependency: they read untrusted bytes, so they are kept
 *		  small, bounded by the given length, and fuzzed (make fuzz).
 *
 *-------------------------------------------------------------------------
 */
#include "wire.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/*
 * parse_number
 *		A non-negative decimal number at [*p, end), advancing *p past it;
 *		-1 if there is none.  At most 15 significant digits are read, so
 *		huge values cannot overflow.
 */
static double
parse_number(const char **p, const char *end)
{
	const char *s = *p;
	double		value = 0;
	double		scale = 0;
	int			digits = 0;

	while (s < end && (isdigit((unsigned char) *s) || (*s == '.' && scale == 0)))
	{
		if (*s == '.')
			scale = 1;
		else
		{
			if (digits < 15)
			{
				value = value * 10 + (*s - '0');
				if (scale > 0)
					scale *= 10;
			}
			else if (scale == 0)
				value *= 10;
			digits++;
		}
		s++;
	}
	*p = s;
	if (digits == 0)
		return -1;
	if (scale > 1)
		value /= scale;
	return isfinite(value) ? value : -1;
}

/*
 * close_parse_ratelimit
 *		Parse a RateLimit header value such as "limit=160, remaining=12,
 *		reset=3.5" (parts separated by "," or ";", names in any case, spaces
 *		allowed, unknown parts ignored) into *out.  Returns true if at least
 *		one known part had a valid number.
 */
bool
close_parse_ratelimit(const char *value, size_t len, CloseRateLimit *out)
{
	const char *p = value;
	const char *end = value + len;
	bool		found = false;

	out->limit = out->remaining = out->reset = -1;
	while (p < end)
	{
		const char *name;
		size_t		namelen;
		double		number;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ',' || *p == ';'))
			p++;
		name = p;
		while (p < end && *p != '=' && *p != ',' && *p != ';')
			p++;
		namelen = p - name;
		while (namelen > 0 && (name[namelen - 1] == ' ' || name[namelen - 1] == '\t'))
			namelen--;
		if (p >= end || *p != '=')
			continue;
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		number = parse_number(&p, end);
		/* skip whatever else belongs to this part */
		while (p < end && *p != ',' && *p != ';')
			p++;
		if (number < 0)
			continue;
		if (namelen == 5 && strncasecmp(name, "limit", 5) == 0)
			out->limit = number;
		else if (namelen == 9 && strncasecmp(name, "remaining", 9) == 0)
			out->remaining = number;
		else if (namelen == 5 && strncasecmp(name, "reset", 5) == 0)
			out->reset = number;
		else
			continue;
		found = true;
	}
	return found;
}

/*
 * close_parse_seconds
 *		A Retry-After or X-Rate-Limit-Reset value in seconds (whole or
 *		decimal, surrounding spaces allowed); -1 if it is anything else, such
 *		as an HTTP date.
 */
double
close_parse_seconds(const char *value, size_t len)
{
	const char *p = value;
	const char *end = value + len;
	double		number;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	number = parse_number(&p, end);
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p == end ? number : -1;
}
