/* Listening sockets of the master. Each configured inet_listener becomes one
   socket per listen address, each unix_listener one socket; all live in a
   process-wide list and are shared by the generations that want them, so a
   reload keeps unchanged sockets open. */
#include "lib.h"
#include "net.h"
#include "config.h"
#include "restrict-access.h"
#include "hash.h"
#include "master.h"
#include <sys/stat.h>

ARRAY_DEFINE_TYPE(master_listener, struct master_listener *);
ARRAY_DEFINE_TYPE(ip_addr, struct ip_addr);

static ARRAY_TYPE(master_listener) all_listeners;

static struct master_listener *listener_find(const char *key)
{
	struct master_listener **l;
	if (!array_is_created(&all_listeners))
		return NULL;
	array_foreach(&all_listeners, l) {
		if (strcmp((*l)->key, key) == 0)
			return *l;
	}
	return NULL;
}

static void listener_free(struct master_listener *l)
{
	if (l->fd != -1)
		close(l->fd);
	if (l->kind == MASTER_LISTENER_KIND_UNIX && l->path != NULL)
		(void)unlink(l->path);
	free(l->key);
	free(l->name);
	free(l->path);
	free(l);
}

void master_listener_unref(struct master_listener **_l)
{
	struct master_listener *l = *_l;
	*_l = NULL;
	i_assert(l->refcount > 0);
	l->refcount--;
}

void master_listeners_close_unused(void)
{
	if (!array_is_created(&all_listeners))
		return;
	for (unsigned int i = 0; i < array_count(&all_listeners);) {
		struct master_listener *l = *array_idx(&all_listeners, i);
		if (l->refcount == 0) {
			listener_free(l);
			array_delete(&all_listeners, i, 1);
		} else {
			i++;
		}
	}
}

void master_listeners_close_all(void)
{
	struct master_listener **l;
	if (!array_is_created(&all_listeners))
		return;
	array_foreach(&all_listeners, l) {
		if ((*l)->fd != -1) {
			close((*l)->fd);
			(*l)->fd = -1;
		}
	}
}

/* "*" is every IPv4 address, "::" every IPv6 address (v6-only, so both can
   be bound side by side), "localhost" both loopbacks. */
static int listen_address_expand(const char *addr, ARRAY_TYPE(ip_addr) *ips,
				 const char **error_r)
{
	struct ip_addr ip;
	if (strcmp(addr, "*") == 0) {
		i_assert(net_addr2ip("0.0.0.0", &ip) == 0);
		array_push(ips, ip);
	} else if (strcmp(addr, "localhost") == 0) {
		i_assert(net_addr2ip("127.0.0.1", &ip) == 0);
		array_push(ips, ip);
		i_assert(net_addr2ip("::1", &ip) == 0);
		array_push(ips, ip);
	} else if (net_addr2ip(addr, &ip) == 0) {
		array_push(ips, ip);
	} else {
		*error_r = t_strdup_printf(
			"listen: %s is not an IP address, *, :: or localhost",
			addr);
		return -1;
	}
	return 0;
}

static bool ip_is_any6(const struct ip_addr *ip)
{
	return IPADDR_IS_V6(ip) &&
		memcmp(&ip->u.ip6, &in6addr_any, sizeof(in6addr_any)) == 0;
}

static struct master_listener *
listener_get(const char *key, enum master_listener_kind kind, const char *name,
	     ARRAY_TYPE(master_listener) *new_listeners)
{
	struct master_listener *l = listener_find(key);
	if (l == NULL) {
		struct master_listener **nl;
		array_foreach(new_listeners, nl) {
			if (strcmp((*nl)->key, key) == 0)
				return *nl;
		}
		l = i_new(struct master_listener, 1);
		l->kind = kind;
		l->key = i_strdup(key);
		l->name = i_strdup(name);
		l->fd = -1;
		array_push(new_listeners, l);
	}
	return l;
}

static int bind_inet(struct master_service *service,
		     const struct inet_listener_settings *iset,
		     const char *const *addresses,
		     ARRAY_TYPE(master_listener) *new_listeners,
		     struct hash_table *used_keys, const char **error_r)
{
	ARRAY_TYPE(ip_addr) ips;
	array_init(&ips, pool_datastack, 4);
	for (; *addresses != NULL; addresses++) {
		if (listen_address_expand(*addresses, &ips, error_r) < 0)
			return -1;
	}
	struct ip_addr *ip;
	array_foreach(&ips, ip) {
		const char *key = t_strdup_printf("inet:%s",
			net_ipport2str(ip, (in_port_t)iset->port));
		const char *other = hash_table_lookup(used_keys, key);
		if (other != NULL) {
			*error_r = t_strdup_printf(
				"service %s: inet_listener %s: %s is also used by %s",
				service->name, iset->name,
				net_ipport2str(ip, (in_port_t)iset->port), other);
			return -1;
		}
		hash_table_insert(used_keys, (char *)key, (char *)t_strdup_printf(
			"service %s inet_listener %s", service->name, iset->name));
		struct master_listener *l =
			listener_get(key, MASTER_LISTENER_KIND_INET,
				     iset->name, new_listeners);
		if (l->fd == -1) {
			in_port_t port = (in_port_t)iset->port;
			const char *error;
			l->ip = *ip;
			l->port = port;
			l->fd = net_listen(ip, &port, 0, 0, &error);
			if (l->fd == -1) {
				if (ip_is_any6(ip) &&
				    (errno == EAFNOSUPPORT ||
				     errno == EADDRNOTAVAIL)) {
					/* no IPv6 on this host: the default
					   "*, ::" must still work */
					i_warning("service %s: %s: IPv6 not "
						  "available, skipping (%s)",
						  service->name, iset->name, error);
					continue;
				}
				*error_r = t_strdup_printf(
					"service %s: inet_listener %s: %s",
					service->name, iset->name, error);
				return -1;
			}
		}
		l->ssl = iset->ssl;
		l->refcount++;
		array_push(&service->listeners, l);
	}
	return 0;
}

static int bind_unix(struct master_service *service,
		     const struct unix_listener_settings *uset,
		     ARRAY_TYPE(master_listener) *new_listeners,
		     struct hash_table *used_keys, const char **error_r)
{
	const char *base_dir = service->gen->set->base_dir;
	const char *path = uset->path[0] == '/' ? uset->path :
		t_strdup_printf("%s/%s", base_dir, uset->path);
	const char *key = t_strdup_printf("unix:%s", path);
	if (hash_table_lookup(used_keys, key) != NULL) {
		*error_r = t_strdup_printf("service %s: unix_listener %s: "
			"the path is used by another listener too",
			service->name, uset->path);
		return -1;
	}
	hash_table_insert(used_keys, (char *)key, (char *)service->name);
	struct master_listener *l =
		listener_get(key, MASTER_LISTENER_KIND_UNIX, uset->path,
			     new_listeners);
	if (l->fd == -1) {
		const char *error;
		l->path = i_strdup(path);
		l->fd = net_listen_unix(path, (mode_t)uset->mode, 0, &error);
		if (l->fd == -1) {
			*error_r = t_strdup_printf("service %s: unix_listener %s: %s",
						   service->name, uset->path, error);
			return -1;
		}
	}
	/* ownership and mode are applied on every (re)load: they may change */
	if (geteuid() == 0 && (uset->user[0] != '\0' || uset->group[0] != '\0')) {
		uid_t uid = (uid_t)-1;
		gid_t gid = (gid_t)-1, user_gid;
		const char *error;
		if (uset->user[0] != '\0' &&
		    restrict_access_lookup_user(uset->user, &uid, &user_gid,
						&error) < 0) {
			*error_r = t_strdup_printf("service %s: unix_listener %s: %s",
						   service->name, uset->path, error);
			return -1;
		}
		if (uset->group[0] != '\0' &&
		    restrict_access_lookup_group(uset->group, &gid, &error) < 0) {
			*error_r = t_strdup_printf("service %s: unix_listener %s: %s",
						   service->name, uset->path, error);
			return -1;
		}
		if (chown(l->path, uid, gid) < 0) {
			*error_r = t_strdup_printf("chown(%s) failed: %m", l->path);
			return -1;
		}
	}
	if (chmod(l->path, (mode_t)uset->mode) < 0) {
		*error_r = t_strdup_printf("chmod(%s) failed: %m", l->path);
		return -1;
	}
	l->refcount++;
	array_push(&service->listeners, l);
	return 0;
}

/* A listener named after a protocol (columba_listener_protocol()) is
   bound only when that protocol is in `protocols`, as Dovecot starts no
   service of a protocol that is not enabled. */
static bool listener_protocol_enabled(const struct columba_settings *set,
				      const char *name)
{
	const char *protocol = columba_listener_protocol(name);

	if (protocol == NULL)
		return true;
	for (const char *const *p = set->protocols; *p != NULL; p++) {
		if (strcmp(*p, protocol) == 0)
			return true;
	}
	return false;
}

int master_listeners_bind(struct master_generation *gen, const char **error_r)
{
	ARRAY_TYPE(master_listener) new_listeners;
	struct master_service **servicep;
	int ret = 0;

	if (!array_is_created(&all_listeners))
		array_init(&all_listeners, system_pool, 16);
	array_init(&new_listeners, system_pool, 8);
	struct hash_table *used_keys = hash_table_create_str(pool_datastack, 16);

	array_foreach(&gen->services, servicep) {
		struct master_service *service = *servicep;
		struct inet_listener_settings *const *iset;
		struct unix_listener_settings *const *uset;

		array_foreach(&service->set->inet_listeners, iset) {
			if ((*iset)->port == 0 ||
			    !listener_protocol_enabled(gen->set, (*iset)->name))
				continue; /* disabled */
			const char *const *addrs = (*iset)->address;
			if (addrs == NULL || addrs[0] == NULL)
				addrs = gen->set->listen;
			if (bind_inet(service, *iset, addrs, &new_listeners,
				      used_keys, error_r) < 0) {
				ret = -1;
				break;
			}
		}
		if (ret < 0)
			break;
		array_foreach(&service->set->unix_listeners, uset) {
			if (!listener_protocol_enabled(gen->set, (*uset)->path))
				continue;
			if (bind_unix(service, *uset, &new_listeners,
				      used_keys, error_r) < 0) {
				ret = -1;
				break;
			}
		}
		if (ret < 0)
			break;
	}

	struct master_listener **l;
	if (ret < 0) {
		/* undo: drop this generation's references; new sockets go */
		array_foreach(&gen->services, servicep) {
			struct master_listener **sl;
			array_foreach(&(*servicep)->listeners, sl)
				(*sl)->refcount--;
			array_clear(&(*servicep)->listeners);
		}
		array_foreach(&new_listeners, l)
			listener_free(*l);
	} else {
		array_foreach(&new_listeners, l)
			array_push(&all_listeners, *l);
	}
	array_free(&new_listeners);
	return ret;
}

const char *master_listeners_describe(const struct master_generation *gen)
{
	string_t *str = t_str_new(128);
	struct master_service *const *service;
	array_foreach(&gen->services, service) {
		struct master_listener *const *l;
		array_foreach(&(*service)->listeners, l) {
			if ((*l)->kind != MASTER_LISTENER_KIND_INET)
				continue;
			if (str_len(str) > 0)
				str_append(str, ", ");
			str_printfa(str, "%s %s", (*l)->name,
				    net_ipport2str(&(*l)->ip, (*l)->port));
		}
	}
	return str_len(str) == 0 ? "no network listeners" : str_c(str);
}
