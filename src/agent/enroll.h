/* enroll: `tether-agent enroll`: proves an enrollment code to the server
 * once and writes the agent's configuration with the credential it gets. */
#ifndef TETHER_ENROLL_H
#define TETHER_ENROLL_H

/* argv[0] is "enroll". Returns the exit status. */
int enroll_main(int argc, char **argv);

#endif
