/* retention: the server's periodic clean-ups of what it keeps (rport's
 * names and defaults; docs/configuration.md, "Retention").
 *
 * - Job history: every purge_jobs_interval (1h) the store purges, off the
 *   loop, the jobs past the newest jobs_max_results of each client and the
 *   jobs older than jobs_max_age (store_purge_start, store/purge.c).
 * - Disconnected clients: with purge_disconnected_clients on, every
 *   purge_disconnected_clients_interval (1m) a client disconnected longer
 *   than keep_disconnected_clients (1h) is forgotten, as DELETE
 *   /api/v1/clients/{id} does (hub_client_delete).
 *
 * Time is the wall clock, moved by the seconds written in the file named
 * by TETHER_TEST_CLOCK_FILE when tests set it (as the guard's clock). */
#ifndef TETHER_RETENTION_H
#define TETHER_RETENTION_H

#include <stdint.h>

#include "server.h"

struct retention;

/* Starts the timers (none is armed for a clean-up that is off). */
int retention_create(struct server *srv, struct retention **out);
/* Stops the timers and asks a running purge to end after its batch; r is
 * freed once the loop has closed the timers. NULL is a no-op. */
void retention_stop(struct retention *r);

#endif
