/* "columba mail COMMAND -u USER ...": storage administration (import,
   export, rebuild, change-log pruning) from the one columba binary. */
#ifndef COLUMBA_MAIL_ADMIN_H
#define COLUMBA_MAIL_ADMIN_H

/* argv[0] is "mail", argv[1] the command. default_config_path is used
   unless -c is given. Blocks. Returns the process exit code: 0, 1 on a
   storage failure, 64 usage, 67 unknown user, 75 userdb temporarily
   unavailable, FATAL_EXIT_CODE for a bad configuration. Run as root, it
   switches to the mail service's user before touching any file. */
int mail_admin_cmd(int argc, char *argv[], const char *default_config_path);

#endif
