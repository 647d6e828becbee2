/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_xml.c - the two XML documents S3 answers with, ListBucketResult and
 * Error, into structs (tier 1; see s3_int.h).
 *
 * Not a general XML parser: a scanner over the bytes through the checked
 * reader (rd.h), which knows start tags (attributes skipped), end tags,
 * character data with the five named entities and numeric references,
 * CDATA, comments, processing instructions and a DOCTYPE without an
 * internal subset.  Nesting is tracked on a fixed stack (deeper than
 * XML_MAX_DEPTH is an error), so no input can make it recurse or read past
 * the buffer.  At each end tag the handler sees the element's name, its
 * ancestors and its text (for elements without children: all of it).
 */
#include "s3_int.h"

#include "rd.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define XML_MAX_DEPTH 16

struct xml {
	struct ckpt_rd r;
	struct ckpt_bytes stack[XML_MAX_DEPTH]; /* open elements, local names */
	unsigned depth;
	struct ckpt_buf text; /* decoded character data since the last tag */
};

/* called at each end tag: x->stack[0 .. x->depth - 1] are the ancestors */
typedef int (*xml_end_fn)(void *ctx, const struct xml *x, struct ckpt_bytes name, struct ckpt_err *err);

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_name(uint8_t c)
{
	return !is_space(c) && c != '<' && c != '>' && c != '/' && c != '=' && c != '"' && c != '\'' &&
	       c != '&' && c != '?' && c != '!';
}

static bool eq(struct ckpt_bytes b, const char *s)
{
	return b.n == strlen(s) && !memcmp(b.p, s, b.n);
}

static int bad(struct ckpt_err *err, const char *what)
{
	return ckpt_err_set(err, CKPT_ECORRUPT, "bad XML from the server: %s", what);
}

static void skip_space(struct ckpt_rd *r)
{
	uint8_t c;

	while (ckpt_rd_peek(r, &c) == 0 && is_space(c))
		ckpt_rd_skip(r, 1);
}

/* consumes everything up to and including end */
static int skip_past(struct ckpt_rd *r, const char *end)
{
	size_t n = strlen(end);

	while (ckpt_rd_lit(r, end, n) != 0)
		if (ckpt_rd_skip(r, 1))
			return CKPT_ECORRUPT;
	return 0;
}

/* a name; its local part (after the last ':') in *out */
static int name(struct ckpt_rd *r, struct ckpt_bytes *out)
{
	struct ckpt_rd start = *r;
	size_t n = 0, colon = 0;
	uint8_t c;

	while (ckpt_rd_peek(r, &c) == 0 && is_name(c)) {
		ckpt_rd_skip(r, 1);
		n++;
		if (c == ':')
			colon = n;
	}
	if (n == colon || ckpt_rd_skip(&start, colon) || ckpt_rd_bytes(&start, n - colon, out))
		return CKPT_ECORRUPT;
	return 0;
}

static void put_utf8(struct ckpt_buf *b, uint32_t cp)
{
	if (cp < 0x80) {
		ckpt_buf_addc(b, (uint8_t)cp);
	} else if (cp < 0x800) {
		ckpt_buf_addc(b, (uint8_t)(0xc0 | cp >> 6));
		ckpt_buf_addc(b, (uint8_t)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		ckpt_buf_addc(b, (uint8_t)(0xe0 | cp >> 12));
		ckpt_buf_addc(b, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
		ckpt_buf_addc(b, (uint8_t)(0x80 | (cp & 0x3f)));
	} else {
		ckpt_buf_addc(b, (uint8_t)(0xf0 | cp >> 18));
		ckpt_buf_addc(b, (uint8_t)(0x80 | (cp >> 12 & 0x3f)));
		ckpt_buf_addc(b, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
		ckpt_buf_addc(b, (uint8_t)(0x80 | (cp & 0x3f)));
	}
}

/* after '&': an entity up to ';', decoded into x->text */
static int entity(struct xml *x, struct ckpt_err *err)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' } };
	char e[12];
	size_t n = 0;
	uint8_t c = 0;

	while (ckpt_rd_u8(&x->r, &c) == 0 && c != ';') {
		if (n + 1 >= sizeof(e))
			return bad(err, "an entity too long");
		e[n++] = (char)c;
	}
	if (c != ';')
		return bad(err, "an unterminated entity");
	e[n] = 0;
	for (size_t i = 0; i < CKPT_ARRAY_SIZE(named); i++) {
		if (!strcmp(e, named[i].name)) {
			ckpt_buf_addc(&x->text, (uint8_t)named[i].c);
			return 0;
		}
	}
	if (e[0] == '#' && n > 1) {
		bool hex = e[1] == 'x';
		uint32_t cp = 0;

		if (!e[hex ? 2 : 1])
			return bad(err, "an empty character reference");
		for (size_t i = hex ? 2 : 1; i < n; i++) {
			int d = e[i] >= '0' && e[i] <= '9'	  ? e[i] - '0'
				: hex && e[i] >= 'a' && e[i] <= 'f' ? e[i] - 'a' + 10
				: hex && e[i] >= 'A' && e[i] <= 'F' ? e[i] - 'A' + 10
								    : -1;
			if (d < 0 || cp > 0x10ffff)
				return bad(err, "a bad character reference");
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			return bad(err, "a character reference out of range");
		put_utf8(&x->text, cp);
		return 0;
	}
	return bad(err, "an unknown entity");
}

/* after '<' and a name: attributes up to '>' or "/>"; *empty for the latter */
static int attributes(struct ckpt_rd *r, bool *empty)
{
	struct ckpt_bytes n;
	uint8_t c, q;

	for (;;) {
		skip_space(r);
		if (ckpt_rd_lit(r, ">", 1) == 0) {
			*empty = false;
			return 0;
		}
		if (ckpt_rd_lit(r, "/>", 2) == 0) {
			*empty = true;
			return 0;
		}
		if (name(r, &n))
			return CKPT_ECORRUPT;
		skip_space(r);
		if (ckpt_rd_lit(r, "=", 1))
			return CKPT_ECORRUPT;
		skip_space(r);
		if (ckpt_rd_u8(r, &q) || (q != '"' && q != '\''))
			return CKPT_ECORRUPT;
		do {
			if (ckpt_rd_u8(r, &c))
				return CKPT_ECORRUPT;
		} while (c != q);
	}
}

static void text_reset(struct xml *x)
{
	x->text.len = 0;
	if (x->text.p)
		x->text.p[0] = 0;
}

/* after '<' of a start tag */
static int start_tag(struct xml *x, xml_end_fn fn, void *ctx, struct ckpt_err *err)
{
	struct ckpt_bytes n;
	bool empty;
	int rc;

	if (name(&x->r, &n) || attributes(&x->r, &empty))
		return bad(err, "a malformed start tag");
	if (x->depth == XML_MAX_DEPTH)
		return bad(err, "elements nested too deep");
	text_reset(x);
	if (empty) {
		rc = fn(ctx, x, n, err);
		text_reset(x);
		return rc;
	}
	x->stack[x->depth++] = n;
	return 0;
}

static int end_tag(struct xml *x, xml_end_fn fn, void *ctx, struct ckpt_err *err)
{
	struct ckpt_bytes n;
	int rc;

	if (name(&x->r, &n))
		return bad(err, "a malformed end tag");
	skip_space(&x->r);
	if (ckpt_rd_lit(&x->r, ">", 1) || !x->depth || !ckpt_bytes_eq(n, x->stack[x->depth - 1]))
		return bad(err, "an end tag that closes nothing open");
	x->depth--;
	rc = ckpt_buf_finish(&x->text);
	if (rc == 0)
		rc = fn(ctx, x, n, err);
	text_reset(x);
	return rc;
}

/* after "<!": a comment, CDATA (its bytes are text) or a DOCTYPE */
static int bang(struct xml *x, struct ckpt_err *err)
{
	uint8_t c = 0;

	if (ckpt_rd_lit(&x->r, "--", 2) == 0)
		return skip_past(&x->r, "-->") ? bad(err, "an unterminated comment") : 0;
	if (ckpt_rd_lit(&x->r, "[CDATA[", 7) == 0) {
		while (ckpt_rd_lit(&x->r, "]]>", 3) != 0) {
			if (ckpt_rd_u8(&x->r, &c))
				return bad(err, "an unterminated CDATA section");
			ckpt_buf_addc(&x->text, c);
		}
		return 0;
	}
	while (ckpt_rd_u8(&x->r, &c) == 0 && c != '>')
		if (c == '[')
			return bad(err, "a DOCTYPE with an internal subset");
	return c == '>' ? 0 : bad(err, "an unterminated declaration");
}

static int xml_scan(const void *p, size_t n, xml_end_fn fn, void *ctx, struct ckpt_err *err)
{
	struct xml x = { .r = ckpt_rd_init(p, n), .text = CKPT_BUF_INIT };
	bool root = false;
	uint8_t c;
	int rc = 0;

	while (rc == 0 && ckpt_rd_u8(&x.r, &c) == 0) {
		if (c == '&') {
			rc = entity(&x, err);
		} else if (c == 0) {
			rc = bad(err, "a NUL byte");
		} else if (c != '<') {
			ckpt_buf_addc(&x.text, c);
		} else if (ckpt_rd_lit(&x.r, "?", 1) == 0) {
			rc = skip_past(&x.r, "?>") ? bad(err, "an unterminated processing instruction") : 0;
		} else if (ckpt_rd_lit(&x.r, "!", 1) == 0) {
			rc = bang(&x, err);
		} else if (ckpt_rd_lit(&x.r, "/", 1) == 0) {
			rc = end_tag(&x, fn, ctx, err);
		} else if (root && !x.depth) {
			rc = bad(err, "a second root element");
		} else {
			root = true;
			rc = start_tag(&x, fn, ctx, err);
		}
		if (rc == 0 && x.text.oom)
			rc = ckpt_err_set(err, -ENOMEM, "out of memory");
	}
	if (rc == 0 && (!root || x.depth))
		rc = bad(err, root ? "the document ends inside an element" : "no element");
	ckpt_buf_release(&x.text);
	return rc;
}

/* ------------------------------------------------------------------ values */

static int digits(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (!n)
		return CKPT_ECORRUPT;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CKPT_ECORRUPT;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int ckpt_s3_parse_time(const char *s, size_t n, int64_t *ns)
{
	int64_t y, mo, d, h, mi, sec, frac = 0, scale = 1000000000, off = 0, t;
	size_t i = 19;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
		return CKPT_ECORRUPT;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return CKPT_ECORRUPT;
	if (s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (scale > 1) {
				scale /= 10;
				frac += (s[i] - '0') * scale;
			}
		}
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		off = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int64_t oh, om;

		if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return CKPT_ECORRUPT;
		off = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	} else {
		return CKPT_ECORRUPT;
	}
	/* ns in an int64_t reach from 1677 to 2262 */
	if (y < 1678 || y > 2261)
		return CKPT_ECORRUPT;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	*ns = t * 1000000000 + frac;
	return 0;
}

static int parse_u64(const struct ckpt_buf *b, uint64_t *out)
{
	uint64_t v = 0;

	if (!b->len || b->len > 20)
		return CKPT_ECORRUPT;
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] < '0' || b->p[i] > '9' || ckpt_mul_overflow(v, 10, &v) ||
		    ckpt_add_overflow(v, (uint64_t)(b->p[i] - '0'), &v))
			return CKPT_ECORRUPT;
	}
	*out = v;
	return 0;
}

/* a key, prefix or token: the text as a new string; NUL inside is refused */
static int dup_text(const struct ckpt_buf *b, char **out, struct ckpt_err *err)
{
	if (b->len && memchr(b->p, 0, b->len))
		return bad(err, "a NUL character in a name");
	*out = ckpt_strndup(b->len ? (const char *)b->p : "", b->len);
	return *out ? 0 : ckpt_err_set(err, -ENOMEM, "out of memory");
}

/* ----------------------------------------------------------- ListBucketResult */

struct list_ctx {
	struct ckpt_s3_page *pg;
	struct ckpt_s3_obj cur;
	bool has_size;
};

static int contents_child(struct list_ctx *l, struct ckpt_bytes n, const struct ckpt_buf *t,
			  struct ckpt_err *err)
{
	if (eq(n, "Key")) {
		free(l->cur.key);
		l->cur.key = NULL;
		return dup_text(t, &l->cur.key, err);
	}
	if (eq(n, "Size")) {
		l->has_size = true;
		return parse_u64(t, &l->cur.size) ? bad(err, "a bad <Size>") : 0;
	}
	if (eq(n, "ETag")) {
		/* "" (none) when it does not fit, or could not go in an If-Match header */
		l->cur.etag[0] = 0;
		for (size_t i = 0; i < t->len; i++)
			if (t->p[i] < 0x20 || t->p[i] == 0x7f)
				return 0;
		if (t->len < sizeof(l->cur.etag))
			memcpy(l->cur.etag, t->p ? (const char *)t->p : "", t->len + 1);
		return 0;
	}
	if (eq(n, "LastModified"))
		return ckpt_s3_parse_time((const char *)t->p, t->len, &l->cur.mtime_ns) ? bad(err, "a bad <LastModified>")
											 : 0;
	return 0;
}

static int push_obj(struct list_ctx *l, struct ckpt_err *err)
{
	struct ckpt_s3_page *pg = l->pg;

	if (!l->cur.key || !l->has_size)
		return bad(err, "a <Contents> without <Key> or <Size>");
	if (ckpt_grow((void **)&pg->objs, &pg->cap_objs, pg->n_objs + 1, sizeof(*pg->objs)))
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	pg->objs[pg->n_objs++] = l->cur;
	memset(&l->cur, 0, sizeof(l->cur));
	l->has_size = false;
	return 0;
}

static int push_prefix(struct ckpt_s3_page *pg, const struct ckpt_buf *t, struct ckpt_err *err)
{
	char *s;
	int rc;

	if (ckpt_grow((void **)&pg->prefixes, &pg->cap_prefixes, pg->n_prefixes + 1, sizeof(char *)))
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	rc = dup_text(t, &s, err);
	if (rc == 0)
		pg->prefixes[pg->n_prefixes++] = s;
	return rc;
}

static int list_end(void *ctx, const struct xml *x, struct ckpt_bytes n, struct ckpt_err *err)
{
	struct list_ctx *l = ctx;
	const struct ckpt_buf *t = &x->text;

	if (!eq(x->depth ? x->stack[0] : n, "ListBucketResult"))
		return bad(err, "not a ListBucketResult");
	if (x->depth == 2 && eq(x->stack[1], "Contents"))
		return contents_child(l, n, t, err);
	if (x->depth == 2 && eq(x->stack[1], "CommonPrefixes") && eq(n, "Prefix"))
		return push_prefix(l->pg, t, err);
	if (x->depth != 1)
		return 0;
	if (eq(n, "Contents"))
		return push_obj(l, err);
	if (eq(n, "IsTruncated")) {
		l->pg->truncated = t->len == 4 && !memcmp(t->p, "true", 4);
		return 0;
	}
	if (eq(n, "NextContinuationToken")) {
		free(l->pg->next_token);
		l->pg->next_token = NULL;
		return dup_text(t, &l->pg->next_token, err);
	}
	return 0;
}

int ckpt_s3_xml_list(const void *p, size_t n, struct ckpt_s3_page *pg, struct ckpt_err *err)
{
	struct list_ctx l = { .pg = pg };
	int rc;

	pg->truncated = false;
	free(pg->next_token);
	pg->next_token = NULL;
	rc = xml_scan(p, n, list_end, &l, err);
	free(l.cur.key);
	return rc;
}

void ckpt_s3_page_free(struct ckpt_s3_page *pg)
{
	ckpt_s3_objs_free(pg->objs, pg->n_objs);
	ckpt_s3_strv_free(pg->prefixes, pg->n_prefixes);
	free(pg->next_token);
	memset(pg, 0, sizeof(*pg));
}

void ckpt_s3_objs_free(struct ckpt_s3_obj *o, size_t n)
{
	for (size_t i = 0; o && i < n; i++)
		free(o[i].key);
	free(o);
}

void ckpt_s3_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* ------------------------------------------------------------------- Error */

/* text into out (size m) with control characters as ' ', cut to fit */
static void copy_clean(char *out, size_t m, const struct ckpt_buf *t)
{
	size_t n = CKPT_MIN(t->len, m - 1);

	for (size_t i = 0; i < n; i++)
		out[i] = t->p[i] < 0x20 || t->p[i] == 0x7f ? ' ' : (char)t->p[i];
	out[n] = 0;
}

static int error_end(void *ctx, const struct xml *x, struct ckpt_bytes n, struct ckpt_err *err)
{
	struct ckpt_s3_xerr *e = ctx;

	(void)err;
	if (!eq(x->depth ? x->stack[0] : n, "Error"))
		return CKPT_ECORRUPT;
	if (x->depth != 1)
		return 0;
	if (eq(n, "Code"))
		copy_clean(e->code, sizeof(e->code), &x->text);
	else if (eq(n, "Message"))
		copy_clean(e->message, sizeof(e->message), &x->text);
	else if (eq(n, "Region"))
		copy_clean(e->region, sizeof(e->region), &x->text);
	return 0;
}

bool ckpt_s3_xml_error(const void *p, size_t n, struct ckpt_s3_xerr *out)
{
	memset(out, 0, sizeof(*out));
	if (xml_scan(p, n, error_end, out, NULL) == 0)
		return true;
	memset(out, 0, sizeof(*out));
	return false;
}
