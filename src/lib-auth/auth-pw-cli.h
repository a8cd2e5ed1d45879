/* `columba pw`: make and check password hashes, with `doveadm pw`'s
   options and output, so scripts written for Dovecot keep working:
     columba pw [-l] [-p PASSWORD] [-r ROUNDS] [-s SCHEME] [-t HASH]
                [-u USER] [-V]
   -l lists the schemes; -s picks one (default SHA512-CRYPT); -r sets the
   cost; -u gives the user name (DIGEST-MD5); -t HASH checks a password
   against HASH and prints "HASH (verified)"; -V checks the new hash too.
   Without -p the password is read from the terminal, twice and without
   echo (once with -t), or else as one line from standard input. */
#ifndef COLUMBA_AUTH_PW_CLI_H
#define COLUMBA_AUTH_PW_CLI_H

/* Run the command; argv[0] is the command's name. Writes to stdout and
   stderr, reads stdin, blocks while hashing. Returns the exit code,
   doveadm's: 0, 64 (EX_USAGE) for bad options, 75 (EX_TEMPFAIL) for an
   unknown scheme, a failed check or a password that cannot be read. */
int auth_pw_cmd(int argc, char *argv[]);

#endif
