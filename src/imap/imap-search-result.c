/* Answers of SEARCH and SORT: the classic "* SEARCH"/"* SORT" lists, the
   ESEARCH response with RETURN options (RFC 4731, ESORT RFC 5267) and the
   saved result of SEARCHRES (RFC 5182). */
#include "lib.h"
#include "str.h"
#include "imap-common.h"
#include "imap-search.h"

#include <strings.h>

int imap_search_return_parse(const struct imap_arg **args,
			     enum imap_search_return *ret_r,
			     const char **error_r)
{
	const struct imap_arg *list;
	enum imap_search_return ret = 0;

	*ret_r = 0;
	if (!imap_arg_atom_equals(*args, "RETURN"))
		return 0;
	if (!imap_arg_get_list(&(*args)[1], &list, NULL)) {
		*error_r = "RETURN needs a list of options.";
		return -1;
	}
	*args += 2;
	for (; !IMAP_ARG_IS_EOL(list); list++) {
		const char *name;
		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid RETURN option.";
			return -1;
		}
		if (strcasecmp(name, "MIN") == 0)
			ret |= IMAP_SEARCH_RETURN_MIN;
		else if (strcasecmp(name, "MAX") == 0)
			ret |= IMAP_SEARCH_RETURN_MAX;
		else if (strcasecmp(name, "ALL") == 0)
			ret |= IMAP_SEARCH_RETURN_ALL;
		else if (strcasecmp(name, "COUNT") == 0)
			ret |= IMAP_SEARCH_RETURN_COUNT;
		else if (strcasecmp(name, "SAVE") == 0)
			ret |= IMAP_SEARCH_RETURN_SAVE;
		else {
			*error_r = "Unknown RETURN option.";
			return -1;
		}
	}
	if ((ret & ~IMAP_SEARCH_RETURN_SAVE) == 0 &&
	    (ret & IMAP_SEARCH_RETURN_SAVE) == 0)
		ret |= IMAP_SEARCH_RETURN_ALL;
	*ret_r = ret | IMAP_SEARCH_RETURN_ESEARCH;
	return 0;
}

void imap_search_saved_set(struct client *client,
			   const ARRAY_TYPE(seq_range) *uids)
{
	array_free(&client->search_saved_uids);
	array_init(&client->search_saved_uids, system_pool,
		   uids == NULL ? 1 : I_MAX(array_count(uids), 1));
	if (uids != NULL)
		seq_range_array_merge(&client->search_saved_uids, uids);
}

void imap_search_saved_get(struct client *client, bool uid,
			   ARRAY_TYPE(seq_range) *result_r)
{
	if (!array_is_created(&client->search_saved_uids) ||
	    client->mailbox == NULL)
		return;
	if (uid) {
		/* expunged UIDs drop out through the view */
		ARRAY_TYPE(seq_range) seqs;
		array_init(&seqs, pool_datastack, 8);
		mailbox_uids_to_seqs(client->mailbox,
				     &client->search_saved_uids, &seqs);
		mailbox_seqs_to_uids(client->mailbox, &seqs, result_r);
	} else {
		mailbox_uids_to_seqs(client->mailbox,
				     &client->search_saved_uids, result_r);
	}
}

static void search_save(struct client *client, enum imap_search_return ret,
			const uint32_t *seqs, unsigned int count)
{
	ARRAY_TYPE(seq_range) uids;
	struct mailbox *box = client->mailbox;

	array_init(&uids, pool_datastack, 16);
	if (count > 0 && (ret & (IMAP_SEARCH_RETURN_MIN |
				 IMAP_SEARCH_RETURN_MAX)) != 0 &&
	    (ret & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) == 0) {
		/* RFC 5182 §2.4: SAVE with MIN and/or MAX saves just those */
		if ((ret & IMAP_SEARCH_RETURN_MIN) != 0)
			seq_range_array_add(&uids, mailbox_seq_to_uid(box, seqs[0]));
		if ((ret & IMAP_SEARCH_RETURN_MAX) != 0)
			seq_range_array_add(&uids, mailbox_seq_to_uid(box, seqs[count - 1]));
	} else {
		for (unsigned int i = 0; i < count; i++)
			seq_range_array_add(&uids, mailbox_seq_to_uid(box, seqs[i]));
	}
	imap_search_saved_set(client, &uids);
}

/* " %u" without printf: a SEARCH answer is mostly numbers, and
   str_printfa() per number cost as much as searching 200 messages' stored
   subjects. */
static void append_sp_u32(string_t *str, uint32_t n)
{
	char buf[11], *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	*--p = ' ';
	str_append_data(str, p, (size_t)(buf + sizeof(buf) - p));
}

/* A sequence set in the given order, with ranges for ascending runs. */
static void write_ordered_set(string_t *str, const uint32_t *nums,
			      unsigned int count)
{
	for (unsigned int i = 0; i < count; ) {
		unsigned int j = i;
		while (j + 1 < count && nums[j + 1] == nums[j] + 1)
			j++;
		if (i > 0)
			str_append_c(str, ',');
		if (j > i)
			str_printfa(str, "%u:%u", nums[i], nums[j]);
		else
			str_printfa(str, "%u", nums[i]);
		i = j + 1;
	}
}

void imap_search_send_result(struct client_command_context *cmd,
			     enum imap_search_return ret,
			     const uint32_t *seqs, unsigned int count,
			     const char *sort_name, uint64_t modseq)
{
	struct client *client = cmd->client;
	uint32_t *nums = t_new(uint32_t, count + 1);
	string_t *str = t_str_new(128 + count * 6);

	for (unsigned int i = 0; i < count; i++) {
		nums[i] = cmd->uid ? mailbox_seq_to_uid(client->mailbox, seqs[i]) :
			seqs[i];
	}
	if ((ret & IMAP_SEARCH_RETURN_SAVE) != 0)
		search_save(client, ret, seqs, count);

	if (sort_name == NULL && ret == 0 &&
	    (client->enabled & CLIENT_ENABLED_IMAP4REV2) != 0)
		ret = IMAP_SEARCH_RETURN_ESEARCH | IMAP_SEARCH_RETURN_ALL;
	if (ret == 0) {
		str_append(str, sort_name == NULL ? "* SEARCH" : "* SORT");
		for (unsigned int i = 0; i < count; i++)
			append_sp_u32(str, nums[i]);
		if (modseq > 0 && count > 0) {
			str_printfa(str, " (MODSEQ %llu)",
				    (unsigned long long)modseq);
		}
		client_send_line(client, str_c(str));
		return;
	}
	if ((ret & ~(IMAP_SEARCH_RETURN_SAVE | IMAP_SEARCH_RETURN_ESEARCH)) == 0) {
		/* RETURN (SAVE) alone: no ESEARCH response */
		return;
	}
	str_append(str, "* ESEARCH (TAG ");
	imap_write_quoted(str, cmd->tag);
	str_append_c(str, ')');
	if (cmd->uid)
		str_append(str, " UID");
	if (count > 0) {
		uint32_t min = nums[0], max = nums[count - 1];
		if (sort_name == NULL) {
			/* ascending already */
		}
		if ((ret & IMAP_SEARCH_RETURN_MIN) != 0)
			str_printfa(str, " MIN %u", min);
		if ((ret & IMAP_SEARCH_RETURN_MAX) != 0)
			str_printfa(str, " MAX %u", max);
	}
	if ((ret & IMAP_SEARCH_RETURN_COUNT) != 0)
		str_printfa(str, " COUNT %u", count);
	if ((ret & IMAP_SEARCH_RETURN_ALL) != 0 && count > 0) {
		str_append(str, " ALL ");
		if (sort_name == NULL) {
			ARRAY_TYPE(seq_range) set;
			array_init(&set, pool_datastack, 16);
			for (unsigned int i = 0; i < count; i++)
				seq_range_array_add(&set, nums[i]);
			seq_range_write(str, &set);
		} else {
			write_ordered_set(str, nums, count);
		}
	}
	if (modseq > 0 && count > 0)
		str_printfa(str, " MODSEQ %llu", (unsigned long long)modseq);
	client_send_line(client, str_c(str));
}
