/* util: ids, time stamps, capped byte buffers and small string helpers. */
#ifndef TETHER_UTIL_H
#define TETHER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Project error codes: functions return 0 or one of these (negative). */
enum tether_err {
	TE_OK = 0,
	TE_NOMEM = -1,
	TE_INVAL = -2,
	TE_IO = -3,
	TE_TOOBIG = -4,
	TE_NOTFOUND = -5,
	TE_EXISTS = -6,
	TE_AUTH = -7,
	TE_STATE = -8,
};

#define UUID_STR_LEN 37 /* 36 chars + NUL */
#define TIME_STR_LEN 40

/* Writes a random RFC 4122 version 4 UUID, lower case, into out. */
void util_uuid4(char out[UUID_STR_LEN]);
/* A UUID version 7 (RFC 9562): the Unix time in milliseconds, its
 * fraction in 4096ths, then 62 random bits; a thread's ids strictly
 * increase (util.c). Job ids are these: new ids sort after older ones,
 * even within one millisecond, so the store's primary-key index grows at
 * its edge instead of touching a random page per insert, and a list sorted
 * by jid is in creation order. */
void util_uuid7(char out[UUID_STR_LEN]);
/* True if s is a canonical UUID string (any version). */
bool util_is_uuid(const char *s);

/* Wall-clock time in nanoseconds since the epoch. */
int64_t util_now_ns(void);
/* Monotonic time in milliseconds, and in microseconds. */
uint64_t util_mono_ms(void);
uint64_t util_mono_us(void);
/* Formats ns since the epoch as RFC 3339 UTC with nanoseconds: 2020-10-15T15:30:12.937267522Z. */
void util_time_format(int64_t ns, char out[TIME_STR_LEN]);
/* Parses RFC 3339 (Z or +hh:mm offset, optional fraction, or a bare date); returns 0 or -1. */
int util_time_parse(const char *s, int64_t *ns_out);

/* A byte buffer with a hard cap (curl's dynbuf idea). Always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap;
};
void buf_init(struct buf *b, size_t cap);
/* Appends n bytes; returns 0, TE_TOOBIG when the cap would be passed (nothing appended)
 * or TE_NOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal, as printf's %lld writes it (no printf: frames
 * and lists write thousands). 0 or buf_append's code. */
int buf_append_int(struct buf *b, long long v);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *buf_steal(struct buf *b, size_t *len);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/* Parses a decimal integer in [min,max]; returns 0 or -1. */
int util_parse_int(const char *s, long long min, long long max, long long *out);
/* Parses "host:port" (host may be empty, "[v6]" or a name). port_out 1..65535. */
int util_parse_hostport(const char *s, char *host, size_t hostlen, int *port_out);
/* Duration: an integer number of seconds or a string like "500ms", "30s", "5m", "2h".
 * Returns milliseconds or -1. */
long long util_parse_duration_ms(const char *s);
/* Tests only: the whole seconds written in the file at path (a test
 * clock's offset), or 0 when it is absent or unreadable. A few bytes read
 * per call. */
int64_t util_test_clock_offset_sec(const char *path);
/* Bounded copy that always terminates; returns -1 if truncated. */
int util_strlcpy(char *dst, const char *src, size_t size);
/* Sorts strings in byte order (strcmp). */
void util_sort_strs(const char **v, size_t n);
/* Case-insensitive glob match with '*' wildcards (rport's client group params). */
bool util_glob_match(const char *pattern, const char *s);
/* True if the n bytes are valid UTF-8 with no NUL. */
bool util_utf8_valid(const char *s, size_t n);
/* Bytes jansson writes for the string s[0..n), quotes aside (JSON_COMPACT,
 * no JSON_ENSURE_ASCII): '"', '\\' and \n \r \t \b \f take two, other control
 * bytes six (\u00XX). Used to pick text or base64 for output. */
size_t util_json_escaped_len(const char *s, size_t n);

#endif
