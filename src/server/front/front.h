/* front: the API listener's callbacks. Each request goes to the first
 * dialect face that claims it (http/face.h), and otherwise to rport's REST
 * API; WebSocket upgrades and the network layer's own answers are rport's. */
#ifndef TETHER_FRONT_H
#define TETHER_FRONT_H

#include "net.h"

/* The callbacks' user data is the struct server. */
const struct net_callbacks *front_callbacks(void);

#endif
