/* facts: uname, /etc/os-release, interfaces. */
#include "facts.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Reads KEY="value" from /etc/os-release. */
static void os_release(const char *key, char *out, size_t outlen)
{
	FILE *f = fopen("/etc/os-release", "r");
	char line[512];
	size_t kl = strlen(key);

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			char *v = line + kl + 1;
			size_t n = strcspn(v, "\r\n");

			v[n] = '\0';
			if (*v == '"' && n >= 2 && v[n - 1] == '"') {
				v[n - 1] = '\0';
				v++;
			}
			util_strlcpy(out, v, outlen);
			break;
		}
	}
	fclose(f);
}

static const char *go_arch(const char *machine)
{
	/* The names rport reports (Go's GOARCH). */
	if (!strcmp(machine, "x86_64"))
		return "amd64";
	if (!strcmp(machine, "aarch64"))
		return "arm64";
	if (!strcmp(machine, "i686") || !strcmp(machine, "i386"))
		return "386";
	return machine;
}

json_t *facts_collect(void)
{
	json_t *f = json_object(), *v4 = json_array(), *v6 = json_array();
	struct utsname u;
	struct ifaddrs *ifa = NULL, *i;
	struct sysinfo si;
	char host[256] = "", buf[256], os[600];
	time_t now = time(NULL);
	struct tm tm;

	if (gethostname(host, sizeof host) == 0)
		host[sizeof host - 1] = '\0';
	json_object_set_new(f, "hostname", json_string(host));
	if (uname(&u) == 0) {
		snprintf(os, sizeof os, "%s %s %s %s %s", u.sysname, u.nodename, u.release,
			 u.version, u.machine);
		json_object_set_new(f, "os", json_string(os));
		json_object_set_new(f, "os_arch", json_string(go_arch(u.machine)));
		json_object_set_new(f, "os_version", json_string(u.release));
	}
	json_object_set_new(f, "os_kernel", json_string("linux"));
	os_release("ID", buf, sizeof buf);
	json_object_set_new(f, "os_family", json_string(buf));
	os_release("PRETTY_NAME", buf, sizeof buf);
	json_object_set_new(f, "os_full_name", json_string(buf));
	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i; i = i->ifa_next) {
			char addr[INET6_ADDRSTRLEN];

			if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (i->ifa_addr->sa_family == AF_INET &&
			    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
				      addr, sizeof addr))
				json_array_append_new(v4, json_string(addr));
			else if (i->ifa_addr->sa_family == AF_INET6 &&
				 inet_ntop(AF_INET6,
					   &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
					   addr, sizeof addr))
				json_array_append_new(v6, json_string(addr));
		}
		freeifaddrs(ifa);
	}
	json_object_set_new(f, "ipv4", v4);
	json_object_set_new(f, "ipv6", v6);
	json_object_set_new(f, "num_cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	if (sysinfo(&si) == 0)
		json_object_set_new(f, "mem_total",
				    json_integer((json_int_t)si.totalram * si.mem_unit));
	localtime_r(&now, &tm);
	strftime(buf, sizeof buf, "%Z (UTC%z)", &tm);
	json_object_set_new(f, "timezone", json_string(buf));
	return f;
}
