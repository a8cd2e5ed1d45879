/* Reading a corpus of test messages for the corpus test and the parse
   benchmark: a directory tree whose regular files are messages, and whose
   .tar / .tar.zst files are archives of messages (unpacked as a stream,
   through the zstd program, never onto disk). */
#ifndef COLUMBA_MAIL_CORPUS_H
#define COLUMBA_MAIL_CORPUS_H

#include "lib.h"

typedef void mail_corpus_callback_t(const char *name, const unsigned char *data,
				    size_t size, void *context);

/* Call callback for each message under path (a directory, a message file
   or an archive). Returns the number of messages, or -1 with *error_r (the
   path is missing, zstd is not installed, an archive is corrupt). */
int mail_corpus_foreach(const char *path, mail_corpus_callback_t *callback,
			void *context, const char **error_r);

#endif
