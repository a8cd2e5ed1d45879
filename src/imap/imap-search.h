/* SEARCH keys (RFC 9051 §6.4.4, RFC 4731/5182/5032/7162 additions) parsed
   into a tree, and their evaluation over the selected mailbox's view, for
   SEARCH, SORT and THREAD.

   Evaluation runs in three tiers and stops at the cheapest one that
   decides a message:
   1. index keys (flags, keywords, dates, sizes, UIDs, sequence sets,
      MODSEQ, WITHIN): every maximal subtree of them is one
      mailbox_search() over the index, giving a UID set;
   2. header keys on the fields the index caches (From, To, Cc, Bcc,
      Subject, Date, Message-ID, References...): Subject, From, To, Cc
      and Bcc on the decoded, folded form the index keeps of them
      (message-search-fields.h; a message without it gets it here, from
      its cached header block), the others on the cached header block,
      scanned in place;
   3. BODY, TEXT and other headers: the message blob is read (inline
      when it is in the page cache, else asynchronously, several at a
      time), MIME-parsed as it streams (a single part's body skips the
      parser), only text/message parts searched (not application/,
      image/...),
      bodies decoded from base64/QP and converted from their charset to
      UTF-8; a message stops being read once its result is known.
   Strings match as substrings of the decoded text under
   i;unicode-casemap (imap-casemap.h); address fields are matched in
   their normalised "Name <user@domain>" form, RFC 2047-decoded, as
   Dovecot does. */
#ifndef COLUMBA_IMAP_SEARCH_H
#define COLUMBA_IMAP_SEARCH_H

#include "seq-range.h"
#include "imap-arg.h"
#include "mail-index.h"

struct client;
struct client_command_context;
struct imap_search_args;
struct imap_search;

enum imap_search_parse_result {
	IMAP_SEARCH_PARSE_OK = 0,
	/* BAD: *error_r */
	IMAP_SEARCH_PARSE_BAD = -1,
	/* NO [BADCHARSET (...)]: *error_r is the whole text after "NO " */
	IMAP_SEARCH_PARSE_BADCHARSET = -2,
	/* NO: *error_r (e.g. "$" with no saved result is not an error, but
	   a sequence set that cannot be used is) */
	IMAP_SEARCH_PARSE_NO = -3,
};

/* Parse the search keys args (up to EOL; an implicit AND) with their
   strings in charset (NULL: UTF-8). Everything is allocated from pool;
   sequence numbers and "$" are resolved against the client's view now.
   *error_r is a static or pool string. */
enum imap_search_parse_result
imap_search_args_parse(struct client *client, pool_t pool,
		       const struct imap_arg *args, const char *charset,
		       struct imap_search_args **args_r, const char **error_r);
/* The CHARSET names we accept, for BADCHARSET: "UTF-8 US-ASCII ...". */
const char *imap_search_charsets(void);
/* Whether the keys include MODSEQ (the result gets "(MODSEQ n)"). */
bool imap_search_args_have_modseq(const struct imap_search_args *args);

/* Start evaluating args over the client's selected view. Never calls
   back before imap_search_more() has been called. */
struct imap_search *imap_search_begin(struct client *client,
				      struct imap_search_args *args);
/* Make progress: 1 = done (imap_search_get_result()), 0 = waiting for
   blob reads (the callback set with imap_search_set_callback() follows
   from the ioloop; call again then), -1 = failed (logged;
   imap_search_get_error_line() is the "NO ..." to send). */
int imap_search_more(struct imap_search *search);
const char *imap_search_get_error_line(struct imap_search *search);
void imap_search_set_callback(struct imap_search *search,
			      void (*callback)(void *), void *context);
/* The matching messages' sequence numbers, ascending, valid until
   imap_search_end(). */
const ARRAY_TYPE(mail_uid) *imap_search_get_result(struct imap_search *search);
/* Highest modseq among the matches (0 if none). */
uint64_t imap_search_get_highest_modseq(struct imap_search *search);
/* Abort (pending reads are dropped) or free. *search = NULL. */
void imap_search_end(struct imap_search **search);

/* The client's saved search result (SEARCHRES "$"), kept as UIDs so
   that expunges leave it correct (RFC 5182 §2.1). set NULL = forget it.
   imap_search_saved_get() gives the view's sequence numbers of it
   (empty if nothing is saved), in seqs_r (created by the caller). */
void imap_search_saved_set(struct client *client,
			   const ARRAY_TYPE(seq_range) *uids);
void imap_search_saved_get(struct client *client, bool uid,
			   ARRAY_TYPE(seq_range) *result_r);

#endif

/* --- results: RETURN options (RFC 4731, 5182, 5267) --- */

enum imap_search_return {
	IMAP_SEARCH_RETURN_MIN = 0x01,
	IMAP_SEARCH_RETURN_MAX = 0x02,
	IMAP_SEARCH_RETURN_ALL = 0x04,
	IMAP_SEARCH_RETURN_COUNT = 0x08,
	IMAP_SEARCH_RETURN_SAVE = 0x10,
	/* a RETURN (...) was given: the answer is an ESEARCH response */
	IMAP_SEARCH_RETURN_ESEARCH = 0x100,
};

/* If *args is "RETURN (opts)", parse it and step over it ("RETURN ()"
   means ALL). Returns 0, or -1 with *error_r for a BAD reply. */
int imap_search_return_parse(const struct imap_arg **args,
			     enum imap_search_return *ret_r,
			     const char **error_r);
/* Send the result of a SEARCH/SORT: seqs (the view's sequence numbers,
   ascending for SEARCH, in sort order for SORT) as "* SEARCH ..." or
   "* SORT ..." (sort_name), or as "* ESEARCH" when ret asks for it or the
   client enabled IMAP4rev2 (SEARCH only). modseq > 0 adds "(MODSEQ n)"
   / "MODSEQ n" when something matched. SAVE stores the result. */
void imap_search_send_result(struct client_command_context *cmd,
			     enum imap_search_return ret,
			     const uint32_t *seqs, unsigned int count,
			     const char *sort_name, uint64_t modseq);

/* imap_search_args_parse() for SEARCH, SORT and THREAD, whose own
   arguments (RETURN, CHARSET, criteria) have been taken from args: on
   failure the tagged reply is sent (BAD for bad syntax, NO for an unknown
   charset or an unusable set; a failed RETURN (SAVE) forgets the saved
   result, RFC 5182 §2.1) and NULL is returned. Keys with MODSEQ enable
   CONDSTORE. */
struct imap_search_args *
imap_search_args_parse_cmd(struct client_command_context *cmd,
			   const struct imap_arg *args, const char *charset,
			   enum imap_search_return ret);

/* --- SORT and THREAD data --- */

/* The header fields SORT and THREAD use, from a record's cached header
   block (mailbox_fetch_records() with MAIL_INDEX_FETCH_CACHE_HEADERS): unfolded
   raw values of the first field of each name, NULL if missing. */
struct imap_sort_headers {
	const char *subject, *from, *to, *cc;
	const char *message_id, *in_reply_to, *references;
};
void imap_sort_headers_parse(const struct mail_index_record *rec, pool_t pool,
			     struct imap_sort_headers *hdrs_r);
/* The sent date of RFC 5256 §2.2: the Date: header in UTC, else the
   internal date. */
time_t imap_sort_sent_date(const struct mail_index_record *rec);

/* Run a search to the end from a command: cmd->func must be a
   continuation that calls this until it returns 1 (done: result in
   *seqs_r, ascending), 0 (return false: resumed by blob reads) or -1
   (the tagged NO has been sent: return true). */
int imap_search_run_for_cmd(struct client_command_context *cmd,
			    struct imap_search **search,
			    const ARRAY_TYPE(mail_uid) **seqs_r);
