/* ENABLE (RFC 5161): turn on extensions that change how the server
   talks: CONDSTORE, QRESYNC (implies CONDSTORE), UTF8=ACCEPT,
   IMAP4rev2. Only what the capability list advertises can be enabled;
   the rest is ignored, as the RFC says. "* ENABLED" lists what this
   command newly enabled. */
#include "lib.h"
#include "imap-common.h"

static const struct {
	const char *name;
	enum client_enabled flag;
} enable_names[] = {
	{ "CONDSTORE", CLIENT_ENABLED_CONDSTORE },
	{ "QRESYNC", CLIENT_ENABLED_QRESYNC | CLIENT_ENABLED_CONDSTORE },
	{ "UTF8=ACCEPT", CLIENT_ENABLED_UTF8_ACCEPT },
	{ "IMAP4rev2", CLIENT_ENABLED_IMAP4REV2 },
};

bool imap_cmd_enable(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	string_t *reply = t_str_new(64);
	const char *name;

	if (IMAP_ARG_IS_EOL(args)) {
		client_send_command_error(cmd, "ENABLE needs arguments.");
		return true;
	}
	/* RFC 9051 §6.3.1: ENABLE in the selected state affects what the
	   client already has: refuse UTF8=ACCEPT there (RFC 6855 §3) */
	for (; !IMAP_ARG_IS_EOL(args); args++) {
		if (!imap_arg_get_atom(args, &name)) {
			client_send_command_error(cmd,
				"ENABLE arguments must be atoms.");
			return true;
		}
	}
	for (args = cmd->args; !IMAP_ARG_IS_EOL(args); args++) {
		(void)imap_arg_get_atom(args, &name);
		for (unsigned int i = 0; i < N_ELEMENTS(enable_names); i++) {
			if (strcasecmp(name, enable_names[i].name) != 0 ||
			    !imap_capability_has(enable_names[i].name))
				continue;
			if ((client->enabled & enable_names[i].flag) ==
			    enable_names[i].flag)
				break;
			if (enable_names[i].flag == CLIENT_ENABLED_UTF8_ACCEPT &&
			    client->mailbox != NULL)
				break;
			client->enabled |= enable_names[i].flag;
			str_append_c(reply, ' ');
			str_append(reply, enable_names[i].name);
			break;
		}
	}
	client_send_linef(client, "* ENABLED%s", str_c(reply));
	client_send_tagline(cmd, "OK Enabled.");
	return true;
}
