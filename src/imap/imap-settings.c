/* The IMAP settings a session consults at run time (see imap-settings.h):
   copied from the configuration so that sessions do not need to carry a
   pointer to it. */
#include "lib.h"
#include "columba-settings.h"
#include "imap-settings.h"

/* the default of imap_max_append_size in lib-config */
static uint64_t append_max_size = 256ULL * 1024 * 1024;

void imap_settings_init(const struct columba_settings *set)
{
	append_max_size = set->imap_max_append_size;
}

uint64_t imap_append_max_size(void)
{
	return append_max_size;
}
