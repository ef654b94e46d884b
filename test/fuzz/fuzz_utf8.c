/*
 * fuzz_utf8.c
 *		libFuzzer harness for the byte sanitisers of src/wire.c:
 *		close_utf8_sanitize() (every response byte quoted in a message or
 *		returned by close_raw passes through it) and
 *		close_json_replace_nul_escapes() (every JSON response does).
 *		Checks them against an independent UTF-8 decoder: the output is
 *		valid UTF-8 without NULs (and without control characters when asked),
 *		measuring agrees with writing, valid input comes out unchanged, and a
 *		second pass changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* valid UTF-8 (RFC 3629) without NUL, decoded the long way */
static bool
valid_utf8(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned int c = s[i];
		unsigned int cp;
		size_t		len;
		size_t		k;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			len = 2, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			len = 3, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
			(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			(cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static bool
has_controls(const unsigned char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7F)
			return true;
	return false;
}

static void
check_sanitize(const char *in, size_t size, bool controls)
{
	size_t		n = close_utf8_sanitize(in, size, NULL, controls);
	char	   *out = malloc(n + 1);
	char	   *again;
	size_t		m;

	if (n > 3 * size)
		abort();
	if (close_utf8_sanitize(in, size, out, controls) != n || out[n] != '\0')
		abort();
	if (!valid_utf8((unsigned char *) out, n))
		abort();
	if (controls && has_controls((unsigned char *) out, n))
		abort();
	if (valid_utf8((const unsigned char *) in, size) &&
		!(controls && has_controls((const unsigned char *) in, size)) &&
		(n != size || memcmp(in, out, n) != 0))
		abort();
	/* a second pass changes nothing */
	m = close_utf8_sanitize(out, n, NULL, controls);
	again = malloc(m + 1);
	close_utf8_sanitize(out, n, again, controls);
	if (m != n || memcmp(out, again, n) != 0)
		abort();
	free(again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data;
	size_t		count;
	char	   *out;

	check_sanitize(in, size, false);
	check_sanitize(in, size, true);

	count = close_json_replace_nul_escapes(in, size, NULL);
	out = malloc(size + 1);
	if (close_json_replace_nul_escapes(in, size, out) != count)
		abort();
	if (count == 0 && memcmp(in, out, size) != 0)
		abort();
	/* only the four zeros of each escape changed, and none is left */
	if (close_json_replace_nul_escapes(out, size, NULL) != 0)
		abort();
	{
		size_t		i,
					changed = 0;

		for (i = 0; i < size; i++)
			if (in[i] != out[i])
				changed++;
		if (changed != 4 * count)
			abort();
	}
	free(out);
	return 0;
}
