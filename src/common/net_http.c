/* net_http: reads HTTP/1.1 requests from a byte stream (http-parser 2.9)
 * and formats answers. Knows no sockets: net_server.c feeds it, and so
 * does fuzz/fuzz_http.c.
 *
 * The parser is paused at the end of a request's head (the owner decides
 * whether its body is worth reading) and at the end of each request (the
 * next pipelined one waits until this one is answered). */
#include "net_srv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NH_FIELD_MAX 256
#define NH_HEADERS_MAX 100

/* ---- query and key-value helpers ------------------------------------- */

void net_kv_free(struct kv *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
}

const char *net_kv_get(const struct kv *q, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(q[i].name, name) == 0)
			return q[i].value;
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %xx (and '+' when plus is set) of n bytes into a new string.
 * A bad escape is kept as it is; a decoded NUL ends the value there (a
 * C string cannot hold it), as the old reader did. */
static char *decode_dup(const char *s, size_t n, bool plus)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (plus && s[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

#define NET_QUERY_MAX 256

int net_query_parse(const char *s, size_t n, struct kv **out, size_t *nout)
{
	struct kv *q = NULL;
	size_t nq = 0;
	size_t i = 0;

	while (i < n) {
		size_t j = i, eq;
		struct kv *nqv;

		while (j < n && s[j] != '&')
			j++;
		if (j > i) {
			if (nq == NET_QUERY_MAX)
				break;
			eq = i;
			while (eq < j && s[eq] != '=')
				eq++;
			nqv = realloc(q, (nq + 1) * sizeof *q);
			if (!nqv)
				goto fail;
			q = nqv;
			q[nq].name = decode_dup(s + i, eq - i, true);
			q[nq].value = eq < j ? decode_dup(s + eq + 1, j - eq - 1, true)
					     : decode_dup("", 0, true);
			nq++;
			if (!q[nq - 1].name || !q[nq - 1].value)
				goto fail;
		}
		i = j + 1;
	}
	*out = q;
	*nout = nq;
	return 0;
fail:
	net_kv_free(q, nq);
	return TE_NOMEM;
}

int net_path_segment_decode(const char *raw, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (len + 1 > outlen)
		return TE_TOOBIG;
	for (size_t i = 0; i < len; i++) {
		char ch = raw[i];

		if (ch == '%') {
			if (i + 2 >= len)
				return TE_INVAL;
			if (hexval(raw[i + 1]) < 0 || hexval(raw[i + 2]) < 0)
				return TE_INVAL;
			ch = (char)(hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]));
			i += 2;
		}
		if (ch == '\0')
			return TE_INVAL;
		out[o++] = ch;
	}
	out[o] = '\0';
	if (!strcmp(out, ".") || !strcmp(out, ".."))
		return TE_INVAL;
	return (int)o;
}

bool net_has_token(const char *list, const char *token)
{
	size_t tl = strlen(token);

	while (list && *list) {
		size_t n;

		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		n = strcspn(list, ",");
		while (n && (list[n - 1] == ' ' || list[n - 1] == '\t'))
			n--;
		if (n == tl && !strncasecmp(list, token, tl))
			return true;
		list += strcspn(list, ",");
	}
	return false;
}

/* ---- requests -------------------------------------------------------- */

net_http_req *net_req_create(void)
{
	net_http_req *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->kind = KIND_REQ;
	r->content_length = -1;
	return r;
}

void net_req_free(net_http_req *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->path);
	net_kv_free(r->query, r->nquery);
	free(r->authorization);
	free(r->origin);
	free(r->content_type);
	free(r->host);
	free(r->upgrade);
	free(r->connection);
	free(r->ws_key);
	free(r->ws_version);
	free(r->ws_protocol);
	free(r->expect);
	net_kv_free(r->headers, r->nheaders);
	buf_free(&r->body);
	free(r);
}

void net_req_unreserve(net_http_req *r, const struct net_limits *lim)
{
	if (r->reserved && lim->bodies_in_flight) {
		*lim->bodies_in_flight -= r->reserved;
		r->reserved = 0;
	}
}

/* ---- the parser's callbacks ------------------------------------------ */

static void nh_error(struct nh *h, int status, const char *title, const char *detail)
{
	h->err.status = status;
	util_strlcpy(h->err.title, title, sizeof h->err.title);
	util_strlcpy(h->err.detail, detail ? detail : "", sizeof h->err.detail);
	h->pending = NH_ERROR;
}

static int head_count(struct nh *h, size_t n)
{
	h->head_bytes += n;
	if (h->head_bytes > h->lim->max_header) {
		char d[96];

		snprintf(d, sizeof d, "the request head is larger than %zu bytes",
			 h->lim->max_header);
		nh_error(h, 431, "Request Header Fields Too Large", d);
		return -1;
	}
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct nh *h = p->data;

	if (!h->req) {
		h->req = net_req_create();
		if (!h->req) {
			nh_error(h, 503, "Service Unavailable", "out of memory");
			return -1;
		}
	}
	h->head_bytes = 0;
	h->hstate = 0;
	buf_reset(&h->field);
	buf_reset(&h->value);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct nh *h = p->data;
	net_http_req *r = h->req;
	size_t have = r->url ? strlen(r->url) : 0;
	char *nu;

	if (have + n > h->lim->max_url) {
		char d[96];

		snprintf(d, sizeof d, "the request target is longer than %zu bytes",
			 h->lim->max_url);
		nh_error(h, 414, "URI Too Long", d);
		return -1;
	}
	if (head_count(h, n))
		return -1;
	nu = realloc(r->url, have + n + 1);
	if (!nu) {
		nh_error(h, 503, "Service Unavailable", "out of memory");
		return -1;
	}
	memcpy(nu + have, at, n);
	nu[have + n] = '\0';
	r->url = nu;
	return 0;
}

/* Every header, in the order received, for net_http_header. */
static int header_keep_any(struct nh *h, const char *name, const char *v, size_t vl)
{
	net_http_req *r = h->req;
	struct kv *nk;
	char *n, *val;

	if (r->nheaders >= NH_HEADERS_MAX) {
		nh_error(h, 431, "Request Header Fields Too Large", "too many headers");
		return -1;
	}
	/* Room for 8, then doubled at each power of two: not a realloc per
	 * header. */
	if (r->nheaders == 0 || (r->nheaders >= 8 && !(r->nheaders & (r->nheaders - 1)))) {
		nk = realloc(r->headers, (r->nheaders ? 2 * r->nheaders : 8) * sizeof *nk);
		if (!nk) {
			nh_error(h, 503, "Service Unavailable", "out of memory");
			return -1;
		}
		r->headers = nk;
	}
	nk = r->headers;
	n = strdup(name);
	val = strndup(v, vl);
	if (!n || !val) {
		free(n);
		free(val);
		nh_error(h, 503, "Service Unavailable", "out of memory");
		return -1;
	}
	for (char *p = n; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	nk[r->nheaders].name = n;
	nk[r->nheaders].value = val;
	r->nheaders++;
	return 0;
}

/* One header is whole: keep the ones the server reads. */
static int header_commit(struct nh *h)
{
#define KEEP(n, f) { n, sizeof n - 1, offsetof(net_http_req, f) }
	static const struct {
		const char *name;
		size_t len;
		size_t off;
	} keep[] = {
		KEEP("authorization", authorization),
		KEEP("origin", origin),
		KEEP("content-type", content_type),
		KEEP("host", host),
		KEEP("upgrade", upgrade),
		KEEP("connection", connection),
		KEEP("sec-websocket-key", ws_key),
		KEEP("sec-websocket-version", ws_version),
		KEEP("sec-websocket-protocol", ws_protocol),
		KEEP("expect", expect),
	};
#undef KEEP
	const char *name = h->field.data ? h->field.data : "";
	const char *v = h->value.data ? h->value.data : "";
	size_t vl = h->value.len;

	h->hstate = 0;
	/* Leading and trailing blanks are not part of the value. */
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	while (vl && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	if (header_keep_any(h, name, v, vl))
		return -1;
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		char **slot;

		if (h->field.len != keep[i].len || strcasecmp(name, keep[i].name))
			continue;
		slot = (char **)((char *)h->req + keep[i].off);
		if (*slot) {
			char d[96];

			snprintf(d, sizeof d, "the %s header is given twice", keep[i].name);
			nh_error(h, 400, "Bad Request", d);
			return -1;
		}
		*slot = strndup(v, vl);
		if (!*slot) {
			nh_error(h, 503, "Service Unavailable", "out of memory");
			return -1;
		}
		break;
	}
	buf_reset(&h->field);
	buf_reset(&h->value);
	return 0;
}

static bool head_done(const struct nh *h)
{
	return h->req && h->req->path;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct nh *h = p->data;

	if (head_count(h, n))
		return -1;
	if (head_done(h))
		return 0; /* a trailer after a chunked body: counted, not kept */
	if (h->hstate == 2 && header_commit(h))
		return -1;
	h->hstate = 1;
	if (buf_append(&h->field, at, n)) {
		nh_error(h, 431, "Request Header Fields Too Large", "a header name is too long");
		return -1;
	}
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct nh *h = p->data;

	if (head_count(h, n))
		return -1;
	if (head_done(h))
		return 0;
	h->hstate = 2;
	if (buf_append(&h->value, at, n)) {
		nh_error(h, 431, "Request Header Fields Too Large", "a header is too long");
		return -1;
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct nh *h = p->data;
	net_http_req *r = h->req;
	const char *url, *q;
	size_t plen;

	if (head_done(h)) {
		/* The end of a chunked body's trailers. */
		return 0;
	}
	if (h->hstate == 2 && header_commit(h))
		return -1;
	r->method = p->method;
	buf_init(&r->body, h->lim->max_body);
	if (p->method == HTTP_CONNECT) {
		nh_error(h, 405, "Method Not Allowed", "CONNECT is not served");
		return -1;
	}
	url = r->url ? r->url : "";
	if (url[0] != '/') {
		/* Only origin-form targets ("/path?query"): no proxy forms,
		 * no "*". */
		nh_error(h, 400, "Bad Request", "the request target must be a path");
		return -1;
	}
	q = strchr(url, '?');
	plen = q ? (size_t)(q - url) : strcspn(url, "#");
	r->path = strndup(url, plen);
	if (!r->path) {
		nh_error(h, 503, "Service Unavailable", "out of memory");
		return -1;
	}
	if (q && net_query_parse(q + 1, strcspn(q + 1, "#"), &r->query, &r->nquery)) {
		nh_error(h, 503, "Service Unavailable", "out of memory");
		return -1;
	}
	r->chunked = (p->flags & F_CHUNKED) != 0;
	r->content_length = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;
	r->keep_alive = http_should_keep_alive(p) != 0;
	if (p->upgrade) {
		/* Only a WebSocket upgrade is taken up; any other Upgrade
		 * (h2c...) is ignored and the request served as HTTP/1.1. */
		if (!r->upgrade || !net_has_token(r->upgrade, "websocket")) {
			p->upgrade = 0;
		} else if (r->content_length > 0 || r->chunked) {
			nh_error(h, 400, "Bad Request", "a WebSocket upgrade has no body");
			return -1;
		} else {
			/* Whole at once: on_message_complete pauses. */
			r->is_upgrade = true;
			return 0;
		}
	}
	if (r->content_length >= 0 && (uint64_t)r->content_length > h->lim->max_body) {
		char d[96];

		snprintf(d, sizeof d, "the request body is larger than %zu bytes", h->lim->max_body);
		nh_error(h, 413, "Request Entity Too Large", d);
		return -1;
	}
	if (r->expect && strcasecmp(r->expect, "100-continue")) {
		nh_error(h, 417, "Expectation Failed", "only Expect: 100-continue is understood");
		return -1;
	}
	h->pending = NH_HEAD;
	http_parser_pause(p, 1);
	return 0;
}

static int body_reserve(struct nh *h, net_http_req *r, size_t more)
{
	const struct net_limits *lim = h->lim;

	if (r->body.len + more > lim->max_body) {
		char d[96];

		snprintf(d, sizeof d, "the request body is larger than %zu bytes", lim->max_body);
		nh_error(h, 413, "Request Entity Too Large", d);
		return -1;
	}
	if (r->body.len + more <= r->reserved)
		return 0;
	/* With a length, the whole body is reserved at once; a chunked body
	 * grows its reservation as it comes. */
	more = r->content_length >= 0 ? (size_t)r->content_length - r->reserved
				      : r->body.len + more - r->reserved;
	if (lim->bodies_in_flight) {
		if (*lim->bodies_in_flight + more > lim->max_bodies) {
			nh_error(h, 503, "Service Unavailable",
				 "too many request bodies in flight, please try later");
			return -1;
		}
		*lim->bodies_in_flight += more;
	}
	r->reserved += more;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct nh *h = p->data;
	net_http_req *r = h->req;

	if (!r)
		return 0; /* refused at its head; the connection closes */
	if (body_reserve(h, r, n))
		return -1;
	if (buf_append(&r->body, at, n)) {
		nh_error(h, 503, "Service Unavailable", "out of memory");
		return -1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct nh *h = p->data;

	if (!h->req)
		return 0; /* answered at its head (it had no body): go on */
	h->pending = NH_DONE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings nh_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void nh_init(struct nh *h, const struct net_limits *lim)
{
	memset(h, 0, sizeof *h);
	http_parser_init(&h->p, HTTP_REQUEST);
	h->p.data = h;
	h->lim = lim;
	buf_init(&h->field, NH_FIELD_MAX);
	buf_init(&h->value, lim->max_header);
}

void nh_release(struct nh *h)
{
	if (h->req) {
		net_req_unreserve(h->req, h->lim);
		net_req_free(h->req);
		h->req = NULL;
	}
	buf_free(&h->field);
	buf_free(&h->value);
}

void nh_next(struct nh *h)
{
	/* After an upgrade request the parser stops for good; a plain
	 * answer to one (no WebSocket) goes on with a fresh parser. */
	if (h->p.upgrade || HTTP_PARSER_ERRNO(&h->p) != HPE_OK) {
		http_parser_init(&h->p, HTTP_REQUEST);
		h->p.data = h;
	}
	buf_free(&h->field);
	buf_free(&h->value);
	buf_init(&h->field, NH_FIELD_MAX);
	buf_init(&h->value, h->lim->max_header);
}

static void nh_parse_error(struct nh *h)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
	const char *d = http_errno_description(e);

	switch (e) {
	case HPE_INVALID_METHOD:
		nh_error(h, 501, "Not Implemented", "unknown request method");
		break;
	case HPE_HEADER_OVERFLOW:
		nh_error(h, 431, "Request Header Fields Too Large", d);
		break;
	case HPE_INVALID_TRANSFER_ENCODING:
		nh_error(h, 501, "Not Implemented",
			 "only the chunked transfer coding is understood");
		break;
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		nh_error(h, 400, "Bad Request",
			 "Content-Length given twice, or with Transfer-Encoding");
		break;
	default:
		nh_error(h, 400, "Bad Request", d);
		break;
	}
}

size_t nh_feed(struct nh *h, const char *data, size_t len, enum nh_result *res)
{
	size_t n;

	h->pending = NH_MORE;
	if (HTTP_PARSER_ERRNO(&h->p) == HPE_PAUSED)
		http_parser_pause(&h->p, 0);
	n = http_parser_execute(&h->p, &nh_settings, data, len);
	if (h->pending == NH_ERROR) {
		*res = NH_ERROR;
		return n;
	}
	if (HTTP_PARSER_ERRNO(&h->p) == HPE_PAUSED) {
		*res = h->pending;
		return n;
	}
	if (HTTP_PARSER_ERRNO(&h->p) != HPE_OK) {
		nh_parse_error(h);
		*res = NH_ERROR;
		return n;
	}
	*res = h->pending;
	return n;
}

/* ---- answers --------------------------------------------------------- */

const char *net_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Request Entity Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Entity";
	case 423: return "Locked";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

char *net_http_format(int status, const char *ctype, const char *body, size_t len,
		      bool close, bool head, const char *extra_headers, size_t *out_len)
{
	struct buf b;
	bool no_body = status == 204 || status == 304 || status < 200;

	buf_init(&b, 1024 + len);
	if (buf_appendf(&b, "HTTP/1.1 %d %s\r\n", status, net_http_reason(status)) ||
	    (!no_body && buf_appendf(&b, "Content-Type: %.100s\r\nContent-Length: %zu\r\n",
				     ctype, len)) ||
	    (close && buf_appendf(&b, "Connection: close\r\n")) ||
	    (extra_headers && buf_appendf(&b, "%.500s", extra_headers)) ||
	    buf_append(&b, "\r\n", 2) ||
	    (!no_body && !head && len && buf_append(&b, body, len))) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, out_len);
}
