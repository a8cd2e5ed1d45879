/* Privilege separation for service processes: chroot and uid/gid changes,
   described by the master in the environment and applied by the child after
   it has loaded what it needs (config, certificates, libraries). */
#ifndef COLUMBA_RESTRICT_ACCESS_H
#define COLUMBA_RESTRICT_ACCESS_H

struct restrict_access_settings {
	uid_t uid;      /* (uid_t)-1 = keep */
	gid_t gid;      /* (gid_t)-1 = keep */
	const char *chroot_dir; /* NULL = none */
};

/* Look up a user/group name. Returns 0 and the ids, or -1 with *error_r. */
int restrict_access_lookup_user(const char *user, uid_t *uid_r, gid_t *gid_r,
				const char **error_r);
int restrict_access_lookup_group(const char *group, gid_t *gid_r,
				 const char **error_r);
/* Store the settings in the environment (called in the forked child before
   exec). */
void restrict_access_set_env(const struct restrict_access_settings *set);
/* Read the settings the master left in the environment. */
void restrict_access_get_env(struct restrict_access_settings *set_r);
/* Apply: chroot (and chdir "/"), drop supplementary groups, setgid,
   setuid, then verify that root cannot be regained. Without root
   privileges nothing changes (development mode: everything runs as the
   invoking user). Fatal on any failure: a process must never run with more
   privileges than it was meant to. */
void restrict_access_apply(const struct restrict_access_settings *set);

#endif
