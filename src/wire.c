/*-------------------------------------------------------------------------
 *
 * wire.c
 *		  Parsers for Close's rate-limit headers, and the UTF-8 sanitiser
 *		  that makes response bytes safe to quote or store.  Plain C with no
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

/*
 * close_utf8_seqlen
 *		Length of the well-formed UTF-8 sequence (RFC 3629: no overlong
 *		forms, no surrogates, nothing past U+10FFFF) that starts at "p",
 *		which has "avail" (> 0) bytes; 0 if the bytes there are not one.
 */
int
close_utf8_seqlen(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;
	int			len;
	int			i;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;				/* a continuation byte, or overlong */
	if (c < 0xE0)
		len = 2;
	else if (c < 0xF0)
	{
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;			/* overlong */
		else if (c == 0xED)
			hi = 0x9F;			/* surrogates */
	}
	else if (c < 0xF5)
	{
		len = 4;
		if (c == 0xF0)
			lo = 0x90;			/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;			/* past U+10FFFF */
	}
	else
		return 0;
	if (avail < (size_t) len)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
	{
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	}
	return len;
}

/*
 * close_utf8_sanitize
 *		Copy the "len" bytes at "in" to "out" as valid UTF-8 without NULs:
 *		each byte that does not start a well-formed sequence, and each NUL,
 *		becomes U+FFFD; with "controls_to_space", each other ASCII control
 *		character (tab and newlines included) becomes a space.  "out" needs
 *		room for the returned length plus a terminating NUL, which is
 *		written; with "out" NULL nothing is written, and the return value
 *		says how much room to allocate (never more than 3 * len).
 */
size_t
close_utf8_sanitize(const char *in, size_t len, char *out,
					bool controls_to_space)
{
	static const char replacement[] = "\xEF\xBF\xBD";
	const unsigned char *p = (const unsigned char *) in;
	const unsigned char *end = p + len;
	size_t		n = 0;

	while (p < end)
	{
		int			l = close_utf8_seqlen(p, end - p);

		if (l == 0 || *p == '\0')
		{
			if (out)
				memcpy(out + n, replacement, 3);
			n += 3;
			p++;
		}
		else if (l == 1 && controls_to_space && (*p < 0x20 || *p == 0x7F))
		{
			if (out)
				out[n] = ' ';
			n++;
			p++;
		}
		else
		{
			if (out)
				memcpy(out + n, p, l);
			n += l;
			p += l;
		}
	}
	if (out)
		out[n] = '\0';
	return n;
}

/*
 * close_json_replace_nul_escapes
 *		Count the \u0000 escapes inside the strings of the JSON text "text"
 *		("len" bytes); with "out" (room for len bytes) also copy the text
 *		there with each of them turned into \uFFFD, the same length.  Neither
 *		PostgreSQL's text nor jsonb can hold U+0000, and cJSON would cut the
 *		string short at it, silently.
 */
size_t
close_json_replace_nul_escapes(const char *text, size_t len, char *out)
{
	size_t		count = 0;
	size_t		i;
	bool		in_string = false;

	if (out)
		memcpy(out, text, len);
	for (i = 0; i < len; i++)
	{
		if (!in_string)
			in_string = text[i] == '"';
		else if (text[i] == '"')
			in_string = false;
		else if (text[i] == '\\' && i + 1 < len)
		{
			i++;				/* the escaped character */
			if (text[i] == 'u' && len - i > 4 && memcmp(text + i + 1, "0000", 4) == 0)
			{
				if (out)
					memcpy(out + i + 1, "FFFD", 4);
				count++;
				i += 4;
			}
		}
	}
	return count;
}
