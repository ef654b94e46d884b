/*
 * replay.c
 *		Runs a fuzz harness's LLVMFuzzerTestOneInput over files, without
 *		libFuzzer: test/fuzz/replay.sh builds it with gcc for each harness
 *		and feeds it the seed corpus and every crash kept under
 *		test/fuzz/regressions/, so CI checks them cheaply.  A failing input
 *		aborts (or trips AddressSanitizer when it is available).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int			i;

	for (i = 1; i < argc; i++)
	{
		FILE	   *f = fopen(argv[i], "rb");
		uint8_t    *buf;
		long		len;

		if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
			fseek(f, 0, SEEK_SET) != 0)
		{
			perror(argv[i]);
			return 1;
		}
		/* exactly the input's size, so that an overread is caught */
		buf = malloc(len > 0 ? len : 1);
		if (buf == NULL || fread(buf, 1, len, f) != (size_t) len)
		{
			perror(argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	printf("%d inputs\n", argc - 1);
	return 0;
}
