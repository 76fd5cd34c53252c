/* cron: a small hand-written parser for five-field cron expressions and
 * the next matching minute (no Debian package offers one as a library). */
#include "core/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct field_def {
	const char *name;
	int min, max;
	const char *const *names;  /* names[i] stands for min + i, or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat",
					  NULL };

static const struct field_def fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, day_names },
};

static const struct { const char *name; const char *expr; } macros[] = {
	{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* A number or a name at *p; advances *p. Returns 0 or -1. */
static int read_value(const struct field_def *f, const char **p, int *out)
{
	const char *s = *p;
	long v = 0;
	int digits = 0;

	if (isdigit((unsigned char)*s)) {
		while (isdigit((unsigned char)*s) && digits < 4) {
			v = v * 10 + (*s - '0');
			s++;
			digits++;
		}
		if (isdigit((unsigned char)*s))
			return -1;
		*out = (int)v;
		*p = s;
		return 0;
	}
	if (f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
	    isalpha((unsigned char)s[2]) && !isalpha((unsigned char)s[3])) {
		for (int i = 0; f->names[i]; i++) {
			if (!strncasecmp(s, f->names[i], 3)) {
				*out = f->min + i;
				*p = s + 3;
				return 0;
			}
		}
	}
	return -1;
}

static int fail(char *err, size_t errlen, const struct field_def *f, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, const struct field_def *f, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", f->name, what);
	return -1;
}

/* One comma-separated item: sets its bits in *bits. */
static int parse_item(const struct field_def *f, const char *item, uint64_t *bits, char *err,
		      size_t errlen)
{
	const char *p = item;
	int lo = f->min, hi = f->max, step = 1;
	bool range = false;

	if (*p == '*') {
		p++;
		range = true;
	} else {
		if (read_value(f, &p, &lo))
			return fail(err, errlen, f, "\"%.32s\" is not a value", item);
		hi = lo;
		if (*p == '-') {
			p++;
			if (read_value(f, &p, &hi))
				return fail(err, errlen, f, "\"%.32s\" is not a range", item);
			range = true;
		}
	}
	if (*p == '/') {
		p++;
		if (!isdigit((unsigned char)*p) || read_value(&fields[0], &p, &step) || step < 1)
			return fail(err, errlen, f, "\"%.32s\" has no valid step", item);
		if (!range)
			hi = f->max;   /* "N/STEP": from N to the field's end */
		if (step > f->max - f->min + 1)
			return fail(err, errlen, f, "step in \"%.32s\" is larger than the field's "
				    "range %d-%d", item, f->min, f->max);
	}
	if (*p)
		return fail(err, errlen, f, "\"%.32s\" is not a value, a range or a step", item);
	if (lo < f->min || lo > f->max)
		return fail(err, errlen, f, "%.32s is out of range %d-%d", item, f->min, f->max);
	if (hi < f->min || hi > f->max)
		return fail(err, errlen, f, "%.32s is out of range %d-%d", item, f->min, f->max);
	if (lo > hi)
		return fail(err, errlen, f, "range \"%.32s\" runs backwards", item);
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ULL << v;
	return 0;
}

static int parse_field(const struct field_def *f, char *text, uint64_t *bits, char *err,
		       size_t errlen)
{
	char *save = NULL, *item;

	if (!*text || text[0] == ',' || text[strlen(text) - 1] == ',' || strstr(text, ",,"))
		return fail(err, errlen, f, "\"%.32s\" has an empty list item", text);
	*bits = 0;
	for (item = strtok_r(text, ",", &save); item; item = strtok_r(NULL, ",", &save))
		if (parse_item(f, item, bits, err, errlen))
			return -1;
	return 0;
}

int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errlen)
{
	char buf[CRON_MAX_LEN + 1], *parts[6], *save = NULL, *tok;
	uint64_t bits[5];
	struct cron_expr e;
	size_t n = 0;

	if (!text || strlen(text) > CRON_MAX_LEN) {
		snprintf(err, errlen, "the expression is longer than %d characters", CRON_MAX_LEN);
		return -1;
	}
	for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
		if (!strcasecmp(text, macros[i].name))
			text = macros[i].expr;
	memcpy(buf, text, strlen(text) + 1);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == 5) {
			snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month "
				 "day-of-week), got more");
			return -1;
		}
		parts[n++] = tok;
	}
	if (n != 5) {
		snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month "
			 "day-of-week), got %zu", n);
		return -1;
	}
	memset(&e, 0, sizeof e);
	e.dom_star = parts[2][0] == '*';
	e.dow_star = parts[4][0] == '*';
	for (int i = 0; i < 5; i++)
		if (parse_field(&fields[i], parts[i], &bits[i], err, errlen))
			return -1;
	e.minute = bits[0];
	e.hour = (uint32_t)bits[1];
	e.dom = (uint32_t)bits[2];
	e.month = (uint16_t)bits[3];
	if (bits[4] & (1u << 7))
		bits[4] |= 1u;     /* 7 is Sunday too */
	e.dow = (uint8_t)(bits[4] & 0x7f);
	/* Five years from 1970 hold a leap day: what finds nothing there
	 * never matches (30 February, 31 April). */
	if (cron_next(&e, 0) < 0) {
		snprintf(err, errlen, "\"%.64s\" never matches a date", text);
		return -1;
	}
	*out = e;
	return 0;
}

static bool day_ok(const struct cron_expr *e, const struct tm *tm)
{
	bool dom = e->dom & (1u << tm->tm_mday), dow = e->dow & (1u << tm->tm_wday);

	if (e->dom_star || e->dow_star)
		return dom && dow;
	return dom || dow;
}

int64_t cron_next(const struct cron_expr *e, int64_t after)
{
	/* Five years of days, and then some hours and minutes: every pass of
	 * the loop moves to the next month, day, hour or minute. */
	int64_t t = after - (after % 60 + 60) % 60 + 60, end = after + 5LL * 366 * 86400;
	struct tm tm;
	time_t tt;

	if (after < 0 || after > 253402300799LL - 6LL * 366 * 86400)
		return -1;   /* outside what gmtime handles here (year 9999) */
	while (t <= end) {
		tt = (time_t)t;
		if (!gmtime_r(&tt, &tm))
			return -1;
		if (!(e->month & (1u << (tm.tm_mon + 1)))) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!day_ok(e, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!(e->hour & (1u << tm.tm_hour))) {
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
		} else if (!(e->minute & (1ULL << tm.tm_min))) {
			t += 60;
			continue;
		} else {
			return t;
		}
		t = (int64_t)timegm(&tm);
	}
	return -1;
}
