/* config: tetherd's configuration (TOML shaped like rport's rportd.conf). */
#ifndef TETHER_SERVER_CONFIG_H
#define TETHER_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server_config {
	/* [server] */
	char agent_address[256];       /* "0.0.0.0:8080" */
	char agent_auth[512];          /* "clientAuth1:1234" */
	char agent_auth_file[512];
	char data_dir[512];
	char tls_cert[512];            /* agent listener TLS (PEM) */
	char tls_key[512];
	int64_t max_agent_message;     /* inbound frame cap from agents */
	int64_t run_remote_cmd_timeout_sec;
	int64_t heartbeat_timeout_sec;    /* silent agent connections are closed */
	int64_t result_grace_sec;         /* after timeout_sec, finish as unknown */
	int64_t delivery_timeout_sec;     /* a job not delivered by then never runs */
	int64_t queue_expiry_default_sec; /* a queued job's expiry when none is asked */
	int64_t queue_expiry_max_sec;     /* the longest expiry a request may ask */
	int64_t elastic_action_expiry_sec;  /* an Elastic action pending for an offline host */
	int64_t schedule_missed_grace_sec; /* a slot missed while down runs once at
					    * start if it is at most this old */
	int64_t schedule_missed_delay_sec; /* ... once agents had this long to come back */
	int64_t max_concurrent_handshakes;
	char shared_client_auth[2048]; /* credential ids any client id may use: "a,b" */
	char log_level[16];
	char log_format[16];         /* text, json, journal, auto */
	/* retention (docs/configuration.md): durations in ms */
	int64_t jobs_max_results;         /* jobs kept per client; 0: no cap */
	int64_t jobs_max_age_ms;          /* older jobs go; 0: no age limit */
	int64_t purge_jobs_interval_ms;
	bool purge_disconnected_clients;
	bool store_sync_thread;           /* the commits' fsync on a thread (store/walsync.c) */
	int64_t keep_disconnected_clients_ms;
	int64_t purge_disconnected_clients_interval_ms;
	/* [api] */
	char api_address[256];         /* "0.0.0.0:3000" */
	char metrics_address[256];     /* [metrics] address: "" none (the default) */
	char api_user[128];
	char api_password[256];        /* plain in the file: hashed at load */
	char api_auth_file[512];       /* lines "user:$argon2id$..." */
	char api_tls_cert[512];
	char api_tls_key[512];
	int64_t max_request_bytes;
	int64_t token_lifetime;        /* seconds, /login default */
	int64_t max_failed_login;      /* per IP, then banned (423) */
	int64_t ban_time;              /* seconds */
	double user_login_wait;        /* seconds between attempts after a failure (429) */
	int64_t client_max_failed_login;
	int64_t client_ban_time;
	double client_login_wait;
	char allowed_origins[1024];    /* comma-separated Origin values for the WS API */
	int64_t max_token_lifetime;
	/* HTTP limits of both listeners (docs/security.md). */
	int64_t max_header_bytes;      /* request line + headers (431) */
	int64_t max_url_bytes;         /* request target (414) */
	int64_t max_bodies_bytes;      /* all request bodies being read (503) */
	int64_t body_timeout_sec;      /* a body's deadline (408) */
	/* [tat]: one key pair bound to a user, and the per-action rate limit
	 * (requests a second; docs/api-tat.md). */
	char tat_secret_id[129];
	char tat_secret_key[129];
	char tat_user[128];
	int64_t tat_rate_limit;
	/* [elastic] */
	int64_t elastic_output_cap;    /* bytes per stream an action keeps */
};

/* Fills defaults. */
void server_config_defaults(struct server_config *c);
/* Reads path over the current values. Returns 0 or -1 with err filled. */
int server_config_load(struct server_config *c, const char *path, char *err,
		       size_t errlen);
/* Checks the whole configuration; returns 0 or -1 with err. */
int server_config_check(const struct server_config *c, char *err, size_t errlen);

#endif
