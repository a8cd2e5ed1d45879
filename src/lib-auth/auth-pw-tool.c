/* columba-pw-test: `columba pw` as a program of its own, for the
   differential tests against doveadm (tests/test_auth_schemes.py) until
   the columba binary carries the sub-command. */
#include "lib.h"
#include "auth-pw-cli.h"

int main(int argc, char *argv[])
{
	int ret = auth_pw_cmd(argc, argv);

	fflush(stdout);
	return ret;
}
