/*
 * fuzz_ratelimit.c
 *		libFuzzer harness for the rate-limit header parsers of src/wire.c:
 *		close_parse_ratelimit() and close_parse_seconds() read header values
 *		Close (or anything between) sends.  Checks that they read only the
 *		given bytes (AddressSanitizer) and return what they promise: -1 or a
 *		finite, non-negative number.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "wire.h"

static void
check_number(double d)
{
	if (!(d == -1 || (isfinite(d) && d >= 0)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CloseRateLimit rl;
	bool		found = close_parse_ratelimit((const char *) data, size, &rl);

	check_number(rl.limit);
	check_number(rl.remaining);
	check_number(rl.reset);
	if (!found && (rl.limit != -1 || rl.remaining != -1 || rl.reset != -1))
		abort();
	if (found && rl.limit == -1 && rl.remaining == -1 && rl.reset == -1)
		abort();
	check_number(close_parse_seconds((const char *) data, size));
	return 0;
}
