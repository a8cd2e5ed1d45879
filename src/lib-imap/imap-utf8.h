/* Net-Unicode (RFC 5198 §2) for mailbox names: RFC 6855 §3 and RFC 9051
   §5.1 want UTF-8 mailbox names in Unicode Normalization Form C. The
   server accepts any valid UTF-8 and stores the NFC form, so that a name
   sent decomposed (as macOS file names often are) and the same name sent
   composed are one mailbox. */
#ifndef COLUMBA_IMAP_UTF8_H
#define COLUMBA_IMAP_UTF8_H

#include "lib.h"

/* The NFC form of src, which must be valid UTF-8 (imap_utf8_is_valid()).
   Returns src itself when it is already NFC (always for ASCII, which is
   decided without ICU), else a copy on the data stack. Never fails:
   ICU cannot refuse valid UTF-8, and an ICU that cannot load its
   normalization data is fatal. */
const char *imap_utf8_nfc(const char *src);

#endif
