/* Prints what IMAP shows of each message given (RFC822.SIZE, ENVELOPE,
   BODY, BODYSTRUCTURE) in the format of
     doveadm -f pager fetch 'guid size.virtual imap.envelope imap.body
                             imap.bodystructure'
   so that the output can be compared byte for byte with Dovecot's (see
   dovecot-diff.py). The guid is the file name up to any ':' (Maildir). */
#include "lib.h"
#include "message-parser.h"
#include "imap-bodystructure.h"
#include "imap-envelope.h"

#include <fcntl.h>
#include <sys/stat.h>

static int dump_file(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		i_error("open(%s) failed: %m", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	unsigned char *data = i_malloc(st.st_size + 1);
	ssize_t ret = read(fd, data, st.st_size);
	close(fd);
	if (ret != st.st_size) {
		i_error("read(%s) failed", path);
		free(data);
		return -1;
	}

	T_BEGIN {
		pool_t pool = pool_alloconly_create("mail-dump", 4096);
		struct message_part *root =
			message_parse_data(pool, data, st.st_size, NULL);
		string_t *str = t_str_new(4096);
		const char *name = strrchr(path, '/');

		name = name == NULL ? path : name + 1;
		str_printfa(str, "guid: %.*s\nsize.virtual: %llu\n"
			    "imap.envelope: ", (int)strcspn(name, ":"), name,
			    (unsigned long long)message_part_rfc822_size(root));
		imap_envelope_write_part(root, str);
		str_append(str, "\nimap.body: ");
		imap_bodystructure_write(root, str, false);
		str_append(str, "\nimap.bodystructure: ");
		imap_bodystructure_write(root, str, true);
		str_append(str, "\n\f\n");
		fwrite(str->data, 1, str->used, stdout);
		pool_unref(&pool);
	} T_END;
	free(data);
	return 0;
}

int main(int argc, char *argv[])
{
	char line[4096];
	int ret = 0;

	/* file names as arguments, or one per line on stdin */
	for (int i = 1; i < argc; i++) {
		if (dump_file(argv[i]) < 0)
			ret = 1;
	}
	if (argc == 1) {
		while (fgets(line, sizeof(line), stdin) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] != '\0' && dump_file(line) < 0)
				ret = 1;
		}
	}
	return ret;
}
