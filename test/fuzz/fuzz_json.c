/*
 * fuzz_json.c
 *		libFuzzer harness for how closecrm_fdw reads a JSON response body,
 *		without PostgreSQL: the steps of close_json_parse() (\u0000 escapes
 *		rewritten, cJSON with nothing but white space after the value), then
 *		the shape checks the scans make (an object; "data" an array of
 *		objects; "has_more" a boolean; "cursor_next" a string; Close's three
 *		error shapes), every string through close_utf8_sanitize(), and
 *		cJSON's printer, whose output must parse again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wire.h"

static void
sanitize_strings(const cJSON *node, int depth)
{
	const cJSON *child;

	if (depth > 2000)
		abort();				/* cJSON's nesting limit is 1000 */
	if (node->string != NULL)
	{
		size_t		n = strlen(node->string);
		char	   *out = malloc(close_utf8_sanitize(node->string, n, NULL, true) + 1);

		close_utf8_sanitize(node->string, n, out, true);
		free(out);
	}
	if (cJSON_IsString(node))
	{
		size_t		n = strlen(node->valuestring);
		char	   *out = malloc(close_utf8_sanitize(node->valuestring, n, NULL, false) + 1);

		close_utf8_sanitize(node->valuestring, n, out, false);
		free(out);
	}
	for (child = node->child; child != NULL; child = child->next)
		sanitize_strings(child, depth + 1);
}

/* what the scans and close_error_text look at */
static void
shape_checks(cJSON *root)
{
	cJSON	   *data;
	cJSON	   *item;
	cJSON	   *more;
	cJSON	   *elem;

	if (!cJSON_IsObject(root))
		return;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (cJSON_IsArray(data))
	{
		int			n = cJSON_GetArraySize(data);
		int			seen = 0;

		cJSON_ArrayForEach(item, data)
		{
			seen++;
			if (cJSON_IsObject(item))
				(void) cJSON_GetObjectItemCaseSensitive(item, "id");
		}
		if (seen != n)
			abort();
	}
	more = cJSON_GetObjectItemCaseSensitive(root, "has_more");
	(void) cJSON_IsBool(more);
	more = cJSON_GetObjectItemCaseSensitive(root, "cursor_next");
	if (cJSON_IsString(more) && more->valuestring == NULL)
		abort();
	item = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(item))
		(void) cJSON_GetObjectItemCaseSensitive(item, "message");
	item = cJSON_GetObjectItemCaseSensitive(root, "errors");
	if (cJSON_IsArray(item))
		cJSON_ArrayForEach(elem, item)
			(void) cJSON_IsString(elem);
	item = cJSON_GetObjectItemCaseSensitive(root, "field-errors");
	if (cJSON_IsObject(item))
		cJSON_ArrayForEach(elem, item)
			if (elem->string == NULL)
				abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	char	   *copy = NULL;
	const char *parse_end = NULL;
	const char *end;
	cJSON	   *root;
	char	   *printed;

	if (close_json_replace_nul_escapes(text, size, NULL) > 0)
	{
		copy = malloc(size + 1);
		close_json_replace_nul_escapes(text, size, copy);
		copy[size] = '\0';
		text = copy;
	}
	end = text + size;
	root = cJSON_ParseWithLengthOpts(text, size, &parse_end, false);
	if (root != NULL)
	{
		if (parse_end < text || parse_end > end)
			abort();
		while (parse_end < end && (*parse_end == ' ' || *parse_end == '\t' ||
								   *parse_end == '\n' || *parse_end == '\r'))
			parse_end++;
		if (parse_end == end)
		{
			shape_checks(root);
			sanitize_strings(root, 0);
			printed = cJSON_PrintUnformatted(root);
			if (printed != NULL)
			{
				cJSON	   *again = cJSON_Parse(printed);

				if (again == NULL)
					abort();
				cJSON_Delete(again);
				cJSON_free(printed);
			}
		}
		cJSON_Delete(root);
	}
	free(copy);
	return 0;
}
