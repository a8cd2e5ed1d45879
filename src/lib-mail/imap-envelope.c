/* ENVELOPE output. Strings are the raw header values (clients decode
   RFC 2047 themselves); subject and names are cleaned up for display as
   Dovecot does, so the two servers answer alike. */
#include "imap-envelope.h"
#include "imap-quote.h"
#include "message-address.h"
#include "message-part-data.h"

static void imap_write_address_list(string_t *dest,
				    const struct message_address *addr)
{
	if (addr == NULL) {
		str_append(dest, "NIL");
		return;
	}
	str_append_c(dest, '(');
	for (; addr != NULL; addr = addr->next) {
		str_append_c(dest, '(');
		if (addr->name == NULL)
			str_append(dest, "NIL");
		else
			imap_append_string_for_humans(dest, addr->name,
						      strlen(addr->name));
		str_append_c(dest, ' ');
		imap_append_nstring(dest, addr->route);
		str_append_c(dest, ' ');
		imap_append_nstring(dest, addr->mailbox);
		str_append_c(dest, ' ');
		imap_append_nstring(dest, addr->domain);
		str_append_c(dest, ')');
	}
	str_append_c(dest, ')');
}

void imap_envelope_write(const struct message_part_envelope *env,
			 string_t *dest)
{
	if (env == NULL) {
		str_append(dest, "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL");
		return;
	}
	imap_append_nstring_nolf(dest, env->date);
	str_append_c(dest, ' ');
	if (env->subject == NULL)
		str_append(dest, "NIL");
	else
		imap_append_string_for_humans(dest, env->subject,
					      strlen(env->subject));
	str_append_c(dest, ' ');
	imap_write_address_list(dest, env->from);
	str_append_c(dest, ' ');
	imap_write_address_list(dest, env->sender != NULL ?
				env->sender : env->from);
	str_append_c(dest, ' ');
	imap_write_address_list(dest, env->reply_to != NULL ?
				env->reply_to : env->from);
	str_append_c(dest, ' ');
	imap_write_address_list(dest, env->to);
	str_append_c(dest, ' ');
	imap_write_address_list(dest, env->cc);
	str_append_c(dest, ' ');
	imap_write_address_list(dest, env->bcc);
	str_append_c(dest, ' ');
	imap_append_nstring_nolf(dest, env->in_reply_to);
	str_append_c(dest, ' ');
	imap_append_nstring_nolf(dest, env->message_id);
}

void imap_envelope_write_part(const struct message_part *root,
			      string_t *dest)
{
	imap_envelope_write(root->data == NULL ? NULL : root->data->envelope,
			    dest);
}
