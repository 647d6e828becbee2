/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3_conf.c - the S3 client's configuration (tier 2; see s3.h): the
 * environment and the AWS CLI's files, -o options, s3:// URLs, endpoints.
 *
 * Precedence, as in the AWS CLI: keys from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY, else from the profile (AWS_PROFILE or "default"):
 * its section of the credentials file, then of the config file.  Region:
 * AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1.
 * Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 * "services" section's s3 endpoint_url, its endpoint_url, else AWS's for
 * the region (chosen at open).  Then the -o options, in order.
 *
 * The files are INI as the AWS CLI writes them: "[NAME]" sections in
 * credentials, "[profile NAME]" or "[default]" in config, "key = value"
 * lines, '#' and ';' comment lines, and indented lines under a key with no
 * value ("s3 =" then "  addressing_style = path").  Profiles that get their
 * keys some other way (SSO, roles, credential_process) are refused with a
 * message rather than read as anonymous.
 */
#include "s3_int.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (1 << 20)

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void str_free(char **s, bool secret)
{
	if (secret)
		ckpt_s3_secret_free(s);
	free(*s);
	*s = NULL;
}

static int str_set(char **dst, const char *v, bool secret, struct ckpt_err *err)
{
	char *n = NULL;

	if (v && !(n = strdup(v)))
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	str_free(dst, secret);
	*dst = n;
	return 0;
}

/* ------------------------------------------------------------------ files */

/* the whole file as a string; NULL with 0 when it does not exist */
static int slurp(const char *path, char **out, struct ckpt_err *err)
{
	FILE *f;
	char *p;
	size_t n;

	*out = NULL;
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT || errno == ENOTDIR ? 0 : ckpt_err_set(err, -errno, "'%s': %s", path, strerror(errno));
	p = malloc(FILE_MAX + 1);
	if (!p) {
		fclose(f);
		return ckpt_err_set(err, -ENOMEM, "out of memory");
	}
	n = fread(p, 1, FILE_MAX + 1, f);
	fclose(f);
	if (n > FILE_MAX) {
		free(p);
		return ckpt_err_set(err, -EFBIG, "'%s': larger than 1 MiB", path);
	}
	p[n] = 0;
	*out = p;
	return 0;
}

/* envvar's path ("~/" is $HOME), else $HOME/.aws/name */
static int aws_path(const char *envvar, const char *name, char *out, size_t m)
{
	const char *v = env(envvar), *home = env("HOME");
	int n;

	if (v && strncmp(v, "~/", 2))
		n = snprintf(out, m, "%s", v);
	else if (!home)
		return -ENOENT;
	else if (v)
		n = snprintf(out, m, "%s/%s", home, v + 2);
	else
		n = snprintf(out, m, "%s/.aws/%s", home, name);
	return n < 0 || (size_t)n >= m ? -ENAMETOOLONG : 0;
}

struct aws_files {
	char *cred, *conf; /* contents, or NULL */
};

static int files_load(struct aws_files *f, struct ckpt_err *err)
{
	char path[4096];
	int rc = 0;

	f->cred = f->conf = NULL;
	if (aws_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof(path)) == 0)
		rc = slurp(path, &f->cred, err);
	if (rc == 0 && aws_path("AWS_CONFIG_FILE", "config", path, sizeof(path)) == 0)
		rc = slurp(path, &f->conf, err);
	return rc;
}

static void files_free(struct aws_files *f)
{
	ckpt_s3_secret_free(&f->cred);
	ckpt_s3_secret_free(&f->conf);
}

/* [a, b) without blanks around it */
static void trim(const char **a, const char **b)
{
	while (*a < *b && (**a == ' ' || **a == '\t' || **a == '\r'))
		(*a)++;
	while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t' || (*b)[-1] == '\r'))
		(*b)--;
}

/* [a, b) equals s, runs of blanks in [a, b) counting as one space */
static bool same_words(const char *a, const char *b, const char *s)
{
	while (a < b) {
		if (*a == ' ' || *a == '\t') {
			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			if (*s++ != ' ')
				return false;
			continue;
		}
		if (*a++ != *s++)
			return false;
	}
	return !*s;
}

/*
 * Looks up key in [section] of INI text: at the top level (parent NULL) or
 * indented under "parent =".  1 and a new *out when found, 0 when not, -1
 * on ENOMEM.  *seen is set when the section exists.
 */
static int ini_get(const char *text, const char *section, const char *parent, const char *key, char **out,
		   bool *seen)
{
	bool in = false, under = false;

	for (const char *l = text; l && *l;) {
		const char *e = strchr(l, '\n'), *a = l, *b, *eq;
		bool indented = *l == ' ' || *l == '\t';

		b = e ? e : l + strlen(l);
		l = e ? e + 1 : NULL;
		trim(&a, &b);
		if (a == b || *a == '#' || *a == ';')
			continue;
		if (*a == '[') {
			const char *c = memchr(a, ']', (size_t)(b - a)), *s = a + 1;

			c = c ? c : b;
			trim(&s, &c);
			in = same_words(s, c, section);
			under = false;
			*seen |= in;
			continue;
		}
		eq = memchr(a, '=', (size_t)(b - a));
		if (!in || !eq)
			continue;
		{
			const char *ka = a, *kb = eq, *va = eq + 1, *vb = b;

			trim(&ka, &kb);
			trim(&va, &vb);
			if (!indented)
				under = parent && va == vb && same_words(ka, kb, parent);
			if ((indented ? parent && under : !parent) && same_words(ka, kb, key)) {
				*out = ckpt_strndup(va, (size_t)(vb - va));
				return *out ? 1 : -1;
			}
		}
	}
	return 0;
}

/* key of profile: the credentials file's [NAME] first when cred, then the
 * config file's [profile NAME] (or [default]) */
static int profile_get(const struct aws_files *f, const char *profile, bool cred, const char *parent,
		       const char *key, char **out, bool *seen)
{
	char sec[256];
	int r = 0;

	*out = NULL;
	if (cred && f->cred)
		r = ini_get(f->cred, profile, parent, key, out, seen);
	if (r == 0 && f->conf) {
		if (!strcmp(profile, "default"))
			r = ini_get(f->conf, "default", parent, key, out, seen);
		snprintf(sec, sizeof(sec), "profile %s", profile);
		if (r == 0)
			r = ini_get(f->conf, sec, parent, key, out, seen);
	}
	return r;
}

/* a key of the config file's [services NAME] section that the profile names, under "s3 =" */
static int services_get(const struct aws_files *f, const char *profile, const char *key, char **out)
{
	char *name, sec[256];
	bool seen = false;
	int r = profile_get(f, profile, false, NULL, "services", &name, &seen);

	*out = NULL;
	if (r != 1)
		return r;
	snprintf(sec, sizeof(sec), "services %s", name);
	free(name);
	return f->conf ? ini_get(f->conf, sec, "s3", key, out, &seen) : 0;
}

static int nomem(struct ckpt_err *err)
{
	return ckpt_err_set(err, -ENOMEM, "out of memory");
}

/* the profile's keys into c (replacing c's); *seen when the profile exists */
static int profile_keys(struct ckpt_s3_conf *c, const struct aws_files *f, const char *profile, bool *seen,
			struct ckpt_err *err)
{
	static const char *const other[] = { "role_arn", "credential_process", "sso_session", "sso_start_url",
					     "web_identity_token_file" };
	char *ak, *sk, *tok = NULL, *v;
	int r1, r2, r3 = 0, rc = 0;

	r1 = profile_get(f, profile, true, NULL, "aws_access_key_id", &ak, seen);
	r2 = profile_get(f, profile, true, NULL, "aws_secret_access_key", &sk, seen);
	if (r1 == 1 && r2 == 1)
		r3 = profile_get(f, profile, true, NULL, "aws_session_token", &tok, seen);
	if (r1 < 0 || r2 < 0 || r3 < 0) {
		rc = nomem(err);
	} else if (r1 != r2) {
		rc = ckpt_err_set(err, -EINVAL, "AWS profile '%s' has %s but not %s", profile,
				  r1 ? "aws_access_key_id" : "aws_secret_access_key",
				  r1 ? "aws_secret_access_key" : "aws_access_key_id");
	} else if (r1 == 0) {
		for (size_t i = 0; i < CKPT_ARRAY_SIZE(other) && rc == 0; i++) {
			if (profile_get(f, profile, false, NULL, other[i], &v, seen) == 1)
				rc = ckpt_err_set(err, -EINVAL,
						  "AWS profile '%s' gets its keys through %s, which ckptfs cannot "
						  "do: give the keys themselves (aws configure export-credentials "
						  "--profile %s --format env)",
						  profile, other[i], profile);
			free(v);
		}
	}
	if (rc == 0 && r1 == 1) {
		if (str_set(&c->access_key, ak, true, err) || str_set(&c->secret_key, sk, true, err) ||
		    str_set(&c->session_token, tok, true, err) || str_set(&c->profile, profile, false, err))
			rc = -ENOMEM;
	}
	str_free(&ak, true);
	str_free(&sk, true);
	str_free(&tok, true);
	return rc;
}

/* the profile's region, endpoint and s3 addressing_style into c, where it has them */
static int profile_place(struct ckpt_s3_conf *c, const struct aws_files *f, const char *profile,
			 bool endpoints, struct ckpt_err *err)
{
	char *region = NULL, *ep = NULL, *style = NULL;
	bool seen = false;
	int rc = 0;

	if (profile_get(f, profile, false, NULL, "region", &region, &seen) < 0 ||
	    (endpoints && services_get(f, profile, "endpoint_url", &ep) < 0) ||
	    (endpoints && !ep && profile_get(f, profile, false, NULL, "endpoint_url", &ep, &seen) < 0) ||
	    profile_get(f, profile, false, "s3", "addressing_style", &style, &seen) < 0)
		rc = nomem(err);
	if (rc == 0 && region && *region)
		rc = str_set(&c->region, region, false, err);
	if (rc == 0 && ep && *ep)
		rc = ckpt_s3_conf_set(c, "endpoint", ep, err);
	if (rc == 0 && style && (!strcmp(style, "path") || !strcmp(style, "virtual")))
		rc = ckpt_s3_conf_set(c, "addressing", style, err);
	free(region);
	free(ep);
	free(style);
	return rc;
}

/* ------------------------------------------------------------------- init */

static int env_keys(struct ckpt_s3_conf *c, bool *found, struct ckpt_err *err)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");

	*found = false;
	if (!ak && !sk)
		return 0;
	if (!ak || !sk)
		return ckpt_err_set(err, -EINVAL, "%s is set but %s is not",
				    ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				    ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	*found = true;
	str_free(&c->profile, false);
	if (str_set(&c->access_key, ak, true, err) || str_set(&c->secret_key, sk, true, err) ||
	    str_set(&c->session_token, env("AWS_SESSION_TOKEN"), true, err))
		return -ENOMEM;
	return 0;
}

/* region and endpoint from the environment, over what the profile gave */
static int env_place(struct ckpt_s3_conf *c, bool endpoints, struct ckpt_err *err)
{
	const char *region = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
	const char *ep = env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3") : env("AWS_ENDPOINT_URL");
	int rc = 0;

	if (region)
		rc = str_set(&c->region, region, false, err);
	if (rc == 0 && ep && endpoints)
		rc = ckpt_s3_conf_set(c, "endpoint", ep, err);
	return rc;
}

static int conf_init(struct ckpt_s3_conf *c, const char *scheme, struct ckpt_err *err)
{
	const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
	const char *ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	bool gs = !strcmp(scheme, "gs"), endpoints = !(ignore && !strcmp(ignore, "true"));
	bool env_found = false, seen = false;
	struct aws_files f = { NULL, NULL };
	int rc;

	if (strcmp(scheme, "s3") && !gs)
		return ckpt_err_set(err, -EINVAL, "'%s': not s3 or gs", scheme);
	if (str_set(&c->scheme, scheme, false, err) || str_set(&c->region, gs ? "auto" : "us-east-1", false, err))
		return -ENOMEM;
	rc = env_keys(c, &env_found, err);
	if (rc == 0)
		rc = files_load(&f, err);
	if (rc == 0 && !env_found)
		rc = profile_keys(c, &f, profile, &seen, err);
	/* gs:// has its own endpoint and region: AWS's settings are not for it */
	if (rc == 0 && !gs)
		rc = profile_place(c, &f, profile, endpoints, err);
	if (rc == 0 && !gs)
		rc = env_place(c, endpoints, err);
	if (rc == 0 && gs)
		rc = ckpt_s3_conf_set(c, "endpoint", "https://storage.googleapis.com", err);
	if (rc == 0 && env("AWS_PROFILE") && !env_found && !seen)
		rc = ckpt_err_set(err, -EINVAL, "AWS profile '%s' (AWS_PROFILE) is in neither the credentials "
				  "nor the config file", profile);
	files_free(&f);
	return rc;
}

int ckpt_s3_conf_init(struct ckpt_s3_conf *c, const char *scheme, struct ckpt_err *err)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->retries = 6;
	c->timeout_ms = 30000;
	rc = conf_init(c, scheme ? scheme : "s3", err);
	if (rc) {
		ckpt_s3_conf_free(c);
		return rc;
	}
	c->anonymous = !c->access_key;
	return 0;
}

void ckpt_s3_conf_free(struct ckpt_s3_conf *c)
{
	str_free(&c->endpoint, false);
	str_free(&c->region, false);
	str_free(&c->access_key, true);
	str_free(&c->secret_key, true);
	str_free(&c->session_token, true);
	str_free(&c->profile, false);
	str_free(&c->scheme, false);
}

int ckpt_s3_profile_keys(const char *profile, char **ak, char **sk, char **tok, struct ckpt_err *err)
{
	struct ckpt_s3_conf c;
	struct aws_files f;
	bool seen = false;
	int rc;

	memset(&c, 0, sizeof(c));
	*ak = *sk = *tok = NULL;
	rc = files_load(&f, err);
	if (rc == 0)
		rc = profile_keys(&c, &f, profile, &seen, err);
	if (rc == 0 && !c.access_key)
		rc = ckpt_err_set(err, -ENOENT, "AWS profile '%s' has no keys now", profile);
	files_free(&f);
	if (rc == 0) {
		*ak = c.access_key;
		*sk = c.secret_key;
		*tok = c.session_token;
		c.access_key = c.secret_key = c.session_token = NULL;
	}
	ckpt_s3_conf_free(&c);
	return rc;
}

/* ---------------------------------------------------------------- options */

static int set_profile(struct ckpt_s3_conf *c, const char *name, struct ckpt_err *err)
{
	struct aws_files f = { NULL, NULL };
	bool seen = false;
	int rc = files_load(&f, err);

	/* the profile's keys only, as the AWS CLI's --profile: not the environment's */
	if (rc == 0) {
		str_free(&c->access_key, true);
		str_free(&c->secret_key, true);
		str_free(&c->session_token, true);
		str_free(&c->profile, false);
		rc = profile_keys(c, &f, name, &seen, err);
	}
	if (rc == 0 && (!c->scheme || strcmp(c->scheme, "gs")))
		rc = profile_place(c, &f, name, true, err);
	if (rc == 0 && !seen)
		rc = ckpt_err_set(err, -EINVAL, "profile=%s: no such profile in the credentials or the config file",
				  name);
	if (rc == 0)
		c->anonymous = !c->access_key;
	files_free(&f);
	return rc;
}

static int set_number(const char *key, const char *v, double lo, double hi, double *out, struct ckpt_err *err)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || end == v || *end || !(*out >= lo && *out <= hi))
		return ckpt_err_set(err, -EINVAL, "%s=%s: not a number from %g to %g", key, v, lo, hi);
	return 0;
}

static int set_endpoint(struct ckpt_s3_conf *c, const char *v, struct ckpt_err *err)
{
	char *proto, *auth, *path, *url;
	int rc = ckpt_s3_endpoint_split(v, &proto, &auth, &path, err);

	if (rc)
		return rc;
	url = malloc(strlen(proto) + strlen(auth) + strlen(path) + 4);
	if (url)
		sprintf(url, "%s://%s%s", proto, auth, path);
	free(proto);
	free(auth);
	free(path);
	if (!url)
		return nomem(err);
	free(c->endpoint);
	c->endpoint = url;
	if (!c->addressing_set)
		c->path_style = true;
	return 0;
}

static int set_flag(const char *key, const char *v, bool *out, struct ckpt_err *err)
{
	if (!v || !*v || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
		*out = false;
	else
		return ckpt_err_set(err, -EINVAL, "%s=%s: give no value, or 1 or 0", key, v);
	return 0;
}

int ckpt_s3_conf_set(struct ckpt_s3_conf *c, const char *key, const char *v, struct ckpt_err *err)
{
	static const char *const known[] = { "endpoint", "region", "addressing", "profile", "access_key_id",
					     "secret_access_key", "session_token", "retries", "timeout" };
	double d;
	size_t i;

	if (!strcmp(key, "anonymous"))
		return set_flag(key, v, &c->anonymous, err);
	for (i = 0; i < CKPT_ARRAY_SIZE(known) && strcmp(key, known[i]); i++)
		;
	if (i == CKPT_ARRAY_SIZE(known))
		return -ENOENT;
	if (!v || !*v)
		return ckpt_err_set(err, -EINVAL, "option %s needs a value (%s=...)", key, key);
	if (!strcmp(key, "endpoint"))
		return set_endpoint(c, v, err);
	if (!strcmp(key, "region"))
		return strchr(v, '/') ? ckpt_err_set(err, -EINVAL, "region=%s: not a region", v)
				      : str_set(&c->region, v, false, err);
	if (!strcmp(key, "addressing")) {
		if (strcmp(v, "path") && strcmp(v, "virtual"))
			return ckpt_err_set(err, -EINVAL, "addressing=%s: path or virtual", v);
		c->path_style = !strcmp(v, "path");
		c->addressing_set = true;
		return 0;
	}
	if (!strcmp(key, "profile"))
		return set_profile(c, v, err);
	if (!strcmp(key, "retries") || !strcmp(key, "timeout")) {
		bool r = key[0] == 'r';

		if (set_number(key, v, r ? 0 : 0.001, r ? 100 : 86400, &d, err))
			return -EINVAL;
		if (r && d != (unsigned)d)
			return ckpt_err_set(err, -EINVAL, "retries=%s: not a whole number", v);
		if (r)
			c->retries = (unsigned)d;
		else
			c->timeout_ms = (unsigned)(d * 1000 + 0.5);
		return 0;
	}
	/* the keys: never in a message */
	if (!strcmp(key, "secret_access_key") && strlen(v) > CKPT_S3_MAX_SECRET)
		return ckpt_err_set(err, -EINVAL, "secret_access_key: longer than %d bytes", CKPT_S3_MAX_SECRET);
	if (strcmp(key, "session_token"))
		c->anonymous = false;
	str_free(&c->profile, false); /* keys given: nothing to read again */
	return str_set(!strcmp(key, "access_key_id")	? &c->access_key
		       : !strcmp(key, "secret_access_key") ? &c->secret_key
							   : &c->session_token,
		       v, true, err);
}

/* ------------------------------------------------------------------- URLs */

bool ckpt_s3_is_url(const char *s)
{
	return s && (!strncmp(s, "s3://", 5) || !strncmp(s, "gs://", 5));
}

static bool bucket_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
	       ch == '-' || ch == '_';
}

int ckpt_s3_url_parse(const char *url, char **scheme, char **bucket, char **prefix, struct ckpt_err *err)
{
	const char *b, *e, *slash;

	*scheme = *bucket = *prefix = NULL;
	if (!ckpt_s3_is_url(url))
		return ckpt_err_set(err, -EINVAL, "'%s': not an s3:// or gs:// URL", url ? url : "");
	b = url + 5;
	slash = b + strcspn(b, "/");
	if (slash == b || slash - b > 222)
		return ckpt_err_set(err, -EINVAL, "'%s': no bucket name", url);
	for (const char *p = b; p < slash; p++)
		if (!bucket_char(*p))
			return ckpt_err_set(err, -EINVAL, "'%s': '%c' cannot be in a bucket name", url, *p);
	for (e = slash; *e == '/'; e++)
		;
	*scheme = ckpt_strndup(url, 2);
	*bucket = ckpt_strndup(b, (size_t)(slash - b));
	*prefix = strdup(e);
	if (!*scheme || !*bucket || !*prefix) {
		free(*scheme);
		free(*bucket);
		free(*prefix);
		*scheme = *bucket = *prefix = NULL;
		return nomem(err);
	}
	return 0;
}

int ckpt_s3_endpoint_split(const char *url, char **proto, char **authority, char **path, struct ckpt_err *err)
{
	size_t pl = !strncmp(url, "https://", 8) ? 8 : !strncmp(url, "http://", 7) ? 7 : 0;
	const char *a = url + pl, *e;
	size_t n;

	*proto = *authority = *path = NULL;
	if (!pl)
		return ckpt_err_set(err, -EINVAL, "endpoint '%s': not an http:// or https:// URL", url);
	e = a + strcspn(a, "/");
	if (e == a || memchr(a, '@', (size_t)(e - a)) || strpbrk(url, "?# \t\r\n"))
		return ckpt_err_set(err, -EINVAL, "endpoint '%s': give scheme://host[:port][/path]", url);
	n = strlen(e);
	while (n && e[n - 1] == '/')
		n--;
	*proto = ckpt_strndup(url, pl - 3);
	*authority = ckpt_strndup(a, (size_t)(e - a));
	*path = ckpt_strndup(e, n);
	if (!*proto || !*authority || !*path) {
		free(*proto);
		free(*authority);
		free(*path);
		*proto = *authority = *path = NULL;
		return nomem(err);
	}
	for (char *p = *authority; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}
