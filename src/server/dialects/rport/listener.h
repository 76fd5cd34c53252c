/* listener: the API listener's callbacks: HTTP requests to the REST API,
 * WebSocket upgrades to the streaming API. */
#ifndef TETHER_RPORT_LISTENER_H
#define TETHER_RPORT_LISTENER_H

#include "net.h"

/* The callbacks' user data is the struct server. */
const struct net_callbacks *rport_listener_callbacks(void);

#endif
