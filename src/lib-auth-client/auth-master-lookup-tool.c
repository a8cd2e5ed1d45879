/* columba-auth-lookup: ask the auth process's userdb socket who users are,
   for admins (like doveadm user) and for the integration tests.

     columba-auth-lookup [-s service] [-t msecs] SOCKET USER...
       blocking lookups, one per USER
     columba-auth-lookup -a [-s service] [-t msecs] SOCKET
       asynchronous lookups on one long-lived connection: one per line
       read from stdin, several names on a line are looked up at once

   Each answer is one line on stdout: "OK user field...", "NOTFOUND user"
   or "FAIL user error". Exit code 0 when every lookup was answered OK or
   NOTFOUND, 2 if any FAILed, 1 on usage errors. */
#include "lib.h"
#include "ioloop.h"
#include "auth-master-client.h"

#include <getopt.h>

struct tool_ctx {
	struct ioloop *ioloop;
	struct auth_master_client *client;
	const char *service;
	struct io *io_stdin;
	buffer_t *input;
	unsigned int pending;
	bool eof, failed;
};

static void print_result(const char *asked, enum auth_master_result result,
			 const char *username, const char *const *fields,
			 const char *error)
{
	switch (result) {
	case AUTH_MASTER_RESULT_OK:
		printf("OK %s", username);
		for (unsigned int i = 0; fields[i] != NULL; i++)
			printf(" %s", fields[i]);
		printf("\n");
		break;
	case AUTH_MASTER_RESULT_NOTFOUND:
		printf("NOTFOUND %s\n", asked);
		break;
	case AUTH_MASTER_RESULT_FAIL:
		printf("FAIL %s %s\n", asked, error);
		break;
	}
	fflush(stdout);
}

struct tool_lookup {
	struct tool_ctx *ctx;
	char *name;
};

static void tool_check_done(struct tool_ctx *ctx)
{
	if (ctx->eof && ctx->pending == 0)
		ioloop_stop(ctx->ioloop);
}

static void tool_lookup_cb(enum auth_master_result result,
			   const char *username, const char *const *fields,
			   const char *error, void *context)
{
	struct tool_lookup *tl = context;
	struct tool_ctx *ctx = tl->ctx;

	print_result(tl->name, result, username, fields, error);
	if (result == AUTH_MASTER_RESULT_FAIL)
		ctx->failed = true;
	free(tl->name);
	free(tl);
	ctx->pending--;
	tool_check_done(ctx);
}

static void tool_lookup_line(struct tool_ctx *ctx, const char *line)
{
	const char *const *names = t_strsplit_spaces(line, " \t");

	for (unsigned int i = 0; names[i] != NULL; i++) {
		struct tool_lookup *tl = i_new(struct tool_lookup, 1);
		struct auth_master_user_request req = {
			.username = names[i], .service = ctx->service,
		};
		tl->ctx = ctx;
		tl->name = i_strdup(names[i]);
		ctx->pending++;
		(void)auth_master_user_lookup(ctx->client, &req,
					      tool_lookup_cb, tl);
	}
}

static void tool_stdin_input(void *context)
{
	struct tool_ctx *ctx = context;
	unsigned char *space = buffer_append_space(ctx->input, 4096);
	ssize_t ret = read(STDIN_FILENO, space, 4096);

	if (ret <= 0) {
		buffer_set_used_size(ctx->input, buffer_used(ctx->input) - 4096);
		if (ret < 0 && errno == EINTR)
			return;
		io_remove(&ctx->io_stdin);
		ctx->eof = true;
		tool_check_done(ctx);
		return;
	}
	buffer_set_used_size(ctx->input,
			     buffer_used(ctx->input) - 4096 + (size_t)ret);
	for (;;) {
		const unsigned char *data = buffer_data(ctx->input);
		const unsigned char *nl = memchr(data, '\n',
						 buffer_used(ctx->input));
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - data);
		T_BEGIN {
			tool_lookup_line(ctx, t_strndup(data, len));
		} T_END;
		buffer_delete(ctx->input, 0, len + 1);
	}
}

static void usage(void)
{
	fprintf(stderr, "Usage: columba-auth-lookup [-a] [-s service] "
		"[-t msecs] SOCKET [USER...]\n");
	exit(1);
}

int main(int argc, char *argv[])
{
	const char *service = "columba-auth-lookup";
	unsigned int timeout_msecs = 0;
	bool async = false, failed = false;
	int c;

	while ((c = getopt(argc, argv, "as:t:")) != -1) {
		switch (c) {
		case 'a':
			async = true;
			break;
		case 's':
			service = optarg;
			break;
		case 't':
			if (str_to_uint(optarg, &timeout_msecs) < 0 ||
			    timeout_msecs == 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	const char *socket_path = argv[optind++];

	if (!async) {
		if (optind >= argc)
			usage();
		for (; optind < argc; optind++) {
			pool_t pool = pool_alloconly_create("lookup", 1024);
			struct auth_master_user_request req = {
				.username = argv[optind], .service = service,
			};
			const char *username, *const *fields, *error;
			enum auth_master_result ret =
				auth_master_user_lookup_sync(socket_path, &req,
					pool, &username, &fields, &error);
			print_result(argv[optind], ret, username, fields,
				     error);
			if (ret == AUTH_MASTER_RESULT_FAIL)
				failed = true;
			pool_unref(&pool);
		}
		return failed ? 2 : 0;
	}

	struct tool_ctx ctx = { .service = service };
	ctx.ioloop = ioloop_create();
	ctx.client = auth_master_client_init(socket_path);
	if (timeout_msecs > 0)
		auth_master_client_set_timeout(ctx.client, timeout_msecs);
	ctx.input = buffer_create(system_pool, 4096);
	ctx.io_stdin = io_add(STDIN_FILENO, IO_READ, tool_stdin_input, &ctx);
	ioloop_run(ctx.ioloop);
	if (ctx.io_stdin != NULL)
		io_remove(&ctx.io_stdin);
	auth_master_client_deinit(&ctx.client);
	buffer_free(&ctx.input);
	ioloop_destroy(&ctx.ioloop);
	return ctx.failed ? 2 : 0;
}
