/* The replay driver shared by every fuzz target: without libFuzzer, run
   LLVMFuzzerTestOneInput() once on each file named (directories are
   walked), so the seed corpora run as ordinary tests in every build. A bad
   input aborts; reaching the end means every input passed. */
#include "lib.h"
#include <dirent.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned int fuzz_replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		i_fatal("fopen(%s) failed: %m", path);
	string_t *buf = str_new(system_pool, 4096);
	char block[4096];
	size_t n;
	while ((n = fread(block, 1, sizeof(block), f)) > 0)
		str_append_data(buf, block, n);
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf->data, str_len(buf));
	str_free(&buf);
	return 1;
}

static unsigned int fuzz_replay(const char *path)
{
	DIR *dir = opendir(path);
	if (dir == NULL)
		return fuzz_replay_file(path);

	unsigned int count = 0;
	struct dirent *d;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		char *file = i_strdup_printf("%s/%s", path, d->d_name);
		count += fuzz_replay(file);
		free(file);
	}
	closedir(dir);
	return count;
}

int main(int argc, char *argv[])
{
	unsigned int count = 0;

	for (int i = 1; i < argc; i++)
		count += fuzz_replay(argv[i]);
	printf("%u inputs replayed\n", count);
	printf("%u passed, %u failed\n", count, count > 0 ? 0U : 1U);
	return count > 0 ? 0 : 1;
}
