/* Fixture for the duplicate-symbol check (scripts/check-dup-symbols.py):
   test-dupsym-a.c and test-dupsym-b.c go into two static libraries that
   both define this name, which the check must report. Never linked. */
int columba_dupsym_test(void);
int columba_dupsym_test(void)
{
	return 'b';
}
