/* chroot + setgid + setuid for service processes, done in the order that
   leaves no way back: groups first (needs root), uid last, then a check
   that setuid(0) now fails. */
#include "lib.h"
#include "restrict-access.h"
#include "master-interface.h"
#include <grp.h>
#include <pwd.h>

int restrict_access_lookup_user(const char *user, uid_t *uid_r, gid_t *gid_r,
				const char **error_r)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	int ret = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		*error_r = ret == 0 ?
			t_strdup_printf("User doesn't exist: %s", user) :
			t_strdup_printf("getpwnam_r(%s) failed: %s", user,
					t_strerror(ret));
		return -1;
	}
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	return 0;
}

int restrict_access_lookup_group(const char *group, gid_t *gid_r,
				 const char **error_r)
{
	char buf[4096];
	struct group gr, *res = NULL;
	int ret = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (res == NULL) {
		*error_r = ret == 0 ?
			t_strdup_printf("Group doesn't exist: %s", group) :
			t_strdup_printf("getgrnam_r(%s) failed: %s", group,
					t_strerror(ret));
		return -1;
	}
	*gid_r = gr.gr_gid;
	return 0;
}

void restrict_access_set_env(const struct restrict_access_settings *set)
{
	char num[32];
	if (set->uid != (uid_t)-1) {
		snprintf(num, sizeof(num), "%u", (unsigned int)set->uid);
		setenv(MASTER_ENV_UID, num, 1);
	}
	if (set->gid != (gid_t)-1) {
		snprintf(num, sizeof(num), "%u", (unsigned int)set->gid);
		setenv(MASTER_ENV_GID, num, 1);
	}
	if (set->chroot_dir != NULL)
		setenv(MASTER_ENV_CHROOT, set->chroot_dir, 1);
}

static unsigned int env_id(const char *name)
{
	const char *value = getenv(name);
	unsigned int id;
	if (value == NULL)
		return (unsigned int)-1;
	if (str_to_uint(value, &id) < 0)
		i_fatal("Invalid %s environment value: %s", name, value);
	return id;
}

void restrict_access_get_env(struct restrict_access_settings *set_r)
{
	set_r->uid = (uid_t)env_id(MASTER_ENV_UID);
	set_r->gid = (gid_t)env_id(MASTER_ENV_GID);
	set_r->chroot_dir = getenv(MASTER_ENV_CHROOT);
}

void restrict_access_apply(const struct restrict_access_settings *set)
{
	if (geteuid() != 0) {
		/* development mode: we cannot change identity, and the
		   master has not asked us to (it runs as us too). */
		return;
	}
	if (set->chroot_dir != NULL) {
		if (chroot(set->chroot_dir) < 0)
			i_fatal("chroot(%s) failed: %m", set->chroot_dir);
		if (chdir("/") < 0)
			i_fatal("chdir(/) failed: %m");
	}
	if (set->gid != (gid_t)-1) {
		if (setgroups(1, &set->gid) < 0)
			i_fatal("setgroups(%u) failed: %m", (unsigned int)set->gid);
		if (setgid(set->gid) < 0)
			i_fatal("setgid(%u) failed: %m", (unsigned int)set->gid);
	}
	if (set->uid != (uid_t)-1) {
		if (setuid(set->uid) < 0)
			i_fatal("setuid(%u) failed: %m", (unsigned int)set->uid);
		if (set->uid != 0 && setuid(0) == 0)
			i_fatal("We couldn't drop root privileges");
	}
}
