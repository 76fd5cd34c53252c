/* util: ids, time stamps, capped byte buffers and small string helpers. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

/* Sets the version nibble and RFC 4122 variant, then formats. */
static void uuid_format(unsigned char b[16], unsigned version, char out[UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	/* 8-4-4-4-12 hex digits (by hand: one per job of a fan-out, and
	 * snprintf was most of the cost) */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

/* Random bytes for ids, drawn from libsodium 512 at a time: one getrandom
 * per 32 ids instead of one per id (a syscall per job of a burst of
 * submissions). Per thread; a forked child starts with an empty pool, so
 * it never hands out its parent's ids. */
#define ID_POOL 512
static _Thread_local unsigned char id_pool[ID_POOL];
static _Thread_local size_t id_pool_left;
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_pool_forked(void)
{
	sodium_memzero(id_pool, sizeof id_pool);
	id_pool_left = 0;
}

static void id_pool_init(void)
{
	pthread_atfork(NULL, NULL, id_pool_forked);
}

static void id_random(unsigned char b[16])
{
	pthread_once(&id_pool_once, id_pool_init);
	if (id_pool_left < 16) {
		randombytes_buf(id_pool, sizeof id_pool);
		id_pool_left = sizeof id_pool;
	}
	memcpy(b, id_pool + sizeof id_pool - id_pool_left, 16);
	id_pool_left -= 16;
}

void util_uuid4(char out[UUID_STR_LEN])
{
	unsigned char b[16];

	id_random(b);
	uuid_format(b, 4, out);
}

/* RFC 9562's version 7: 48 bits of Unix time in ms, then (its method 3)
 * the 12 bits of rand_a hold the fraction of that millisecond, in 4096ths,
 * and the rest is random. Each thread's ids strictly increase: one that
 * would not sort after the last takes the last's time plus one 4096th. So
 * jobs made in the same millisecond sort by jid in the order they were
 * made, as they do by their creation time. */
static _Thread_local uint64_t uuid7_last;  /* ms << 12 | fraction */

void util_uuid7(char out[UUID_STR_LEN])
{
	unsigned char b[16];
	uint64_t ns = (uint64_t)util_now_ns();
	uint64_t t = (ns / 1000000) << 12 | (ns % 1000000) * 4096 / 1000000;

	if (t <= uuid7_last)
		t = uuid7_last + 1;
	uuid7_last = t;
	id_random(b);
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(t >> (52 - 8 * i));
	b[6] = (unsigned char)((t >> 8) & 0x0f);  /* (the version goes above) */
	b[7] = (unsigned char)t;
	uuid_format(b, 7, out);
}

bool util_is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

int64_t util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

uint64_t util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ULL + (uint64_t)ts.tv_nsec / 1000000ULL;
}

uint64_t util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (any month and day
 * counted on linearly, as timegm normalizes them), and back: the civil
 * calendar's arithmetic, no tables and no time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *o, int64_t v, int n)
{
	while (n-- > 0) {
		o[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void util_time_format(int64_t ns, char out[TIME_STR_LEN])
{
	int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL, days, rem, y;
	int m, d;

	if (frac < 0) {
		frac += 1000000000LL;
		sec -= 1;
	}
	days = sec / 86400;
	rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	civil_from_days(days, &y, &m, &d);
	/* YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ (the year as its last four digits) */
	put_digits(out, ((y % 10000) + 10000) % 10000, 4);
	out[4] = '-';
	put_digits(out + 5, m, 2);
	out[7] = '-';
	put_digits(out + 8, d, 2);
	out[10] = 'T';
	put_digits(out + 11, rem / 3600, 2);
	out[13] = ':';
	put_digits(out + 14, rem / 60 % 60, 2);
	out[16] = ':';
	put_digits(out + 17, rem % 60, 2);
	out[19] = '.';
	put_digits(out + 20, frac, 9);
	out[29] = 'Z';
	out[30] = '\0';
}

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int util_time_parse(const char *s, int64_t *ns_out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0;
	long frac = 0;
	int off = 0;

	if (parse_digits(&p, 4, &y) || *p++ != '-' || parse_digits(&p, 2, &mo) ||
	    *p++ != '-' || parse_digits(&p, 2, &d))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (parse_digits(&p, 2, &h) || *p++ != ':' ||
		    parse_digits(&p, 2, &mi) || *p++ != ':' ||
		    parse_digits(&p, 2, &se))
			return -1;
		if (*p == '.') {
			int nd = 0;

			p++;
			while (isdigit((unsigned char)*p)) {
				if (nd < 9) {
					frac = frac * 10 + (*p - '0');
					nd++;
				}
				p++;
			}
			if (nd == 0)
				return -1;
			while (nd++ < 9)
				frac *= 10;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, oh, om;

			p++;
			if (parse_digits(&p, 2, &oh) || *p++ != ':' ||
			    parse_digits(&p, 2, &om))
				return -1;
			off = sign * (oh * 3600 + om * 60);
		} else {
			return -1;
		}
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 60)
		return -1;
	{
		int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;

		/* Nanoseconds in an int64 reach the year 2262. */
		if (secs > 9223372035LL || secs < -9223372035LL)
			return -1;
		*ns_out = secs * 1000000000LL + frac;
	}
	return 0;
}

void buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->cap || b->len > b->cap - n)
		return TE_TOOBIG;
	if (b->len + n + 1 > b->alloc) {
		size_t na = b->alloc ? b->alloc : 256;
		char *nd;

		while (na < b->len + n + 1)
			na *= 2;
		if (na > b->cap + 1)
			na = b->cap + 1;
		nd = realloc(b->data, na);
		if (!nd)
			return TE_NOMEM;
		b->data = nd;
		b->alloc = na;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_int(struct buf *b, long long v)
{
	char d[24], *p = d + sizeof d;
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return buf_append(b, p, (size_t)(d + sizeof d - p));
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return TE_INVAL;
	if ((size_t)n < sizeof small)
		return buf_append(b, small, (size_t)n);
	{
		char *big = malloc((size_t)n + 1);
		int rc;

		if (!big)
			return TE_NOMEM;
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		rc = buf_append(b, big, (size_t)n);
		free(big);
		return rc;
	}
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *d = b->data;

	if (!d) {
		d = calloc(1, 1);
		if (!d)
			return NULL;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return d;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

int util_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int util_parse_hostport(const char *s, char *host, size_t hostlen, int *port_out)
{
	const char *colon;
	long long port;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		hl = (size_t)(close - s - 1);
		if (hl >= hostlen)
			return -1;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
		if (hl >= hostlen)
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (util_parse_int(colon + 1, 1, 65535, &port))
		return -1;
	*port_out = (int)port;
	return 0;
}

long long util_parse_duration_ms(const char *s)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN fails too. */
	if (errno || end == s || !(v >= 0 && v <= 1e12))
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return (long long)(v * 1000.0);
	if (strcmp(end, "ms") == 0)
		return (long long)v;
	if (strcmp(end, "m") == 0)
		return (long long)(v * 60000.0);
	if (strcmp(end, "h") == 0)
		return (long long)(v * 3600000.0);
	return -1;
}

int util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size == 0)
		return -1;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

bool util_glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* Iterative matcher with single backtrack point: linear in practice,
	 * never exponential. */
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p && tolower((unsigned char)*p) == tolower((unsigned char)*s)) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool util_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i - 1 < need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

size_t util_json_escaped_len(const char *s, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' ||
		    c == '\f')
			out += 2;
		else if (c < 0x20)
			out += 6;
		else
			out++;
	}
	return out;
}

static int strs_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void util_sort_strs(const char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof *v, strs_cmp);
}

int64_t util_test_clock_offset_sec(const char *path)
{
	char buf[32];
	long long sec;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, " \r\n")] = '\0';
	if (util_parse_int(buf, 0, 100LL * 365 * 86400, &sec))
		return 0;
	return sec;
}
