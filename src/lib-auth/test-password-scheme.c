/* Tests for the password schemes: known answers made by other
   implementations (openssl passwd, python3 crypt/hashlib/hmac, mkpasswd,
   the argon2 CLI, Dovecot 2.3's doveadm pw), wrong passwords, malformed
   hashes, generation round trips, rounds, the SASL credential helpers and
   use from several threads at once. */
#include "test-lib-auth.h"
#include "base64.h"
#include "password-scheme.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>

struct kat {
	const char *hash;
	const char *password;
	/* for DIGEST-MD5, else NULL */
	const char *user;
};

static const struct kat kats[] = {
	/* openssl passwd -6 / -5 / -1 */
	{ "{SHA512-CRYPT}$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0", "secret", NULL },
	{ "{SHA256-CRYPT}$5$saltsalt1234$gcfFuwR7Y94.ZureXHFid7SCUoLfuUkLeZmE/uW9wDA", "secret", NULL },
	{ "{MD5-CRYPT}$1$saltsalt$9xy1btjgzLYfb7hivXtC//", "secret", NULL },
	{ "{MD5}$1$saltsalt$9xy1btjgzLYfb7hivXtC//", "secret", NULL },
	{ "{CRYPT}$1$saltsalt$9xy1btjgzLYfb7hivXtC//", "secret", NULL },
	/* a bare $1$ hash is MD5-CRYPT whatever the default, and what
	   follows a third '$' is ignored */
	{ "$1$saltsalt$9xy1btjgzLYfb7hivXtC//", "secret", NULL },
	{ "$1$saltsalt$9xy1btjgzLYfb7hivXtC//$ignored", "secret", NULL },
	/* python3 crypt.crypt() with rounds, and UTF-8 */
	{ "{CRYPT}$6$rounds=10000$roundsalt$FF8gTAPk6fDkzddgXk3ExQY6VseKRuyJ8JlMjEybiRw9QL9Gu2AWV/IurQRsdk76m.WslkHULDeqF37ILdYlb/", "secret", NULL },
	{ "{SHA256-CRYPT}$5$rounds=1000$roundsalt$lUCbt9XtIcgnEwqC0F1ZqnVZJuvR2.Yizn/Gj0BBD9/", "secret", NULL },
	{ "{SHA512-CRYPT}$6$unicode$B5UR6ZtIOlC.hFm3xvaV12FltA/oT1duUrErvW6m7kbKq5vtvk7DQdhmrhJT7X4mrCBGsSYB4DzO.qNdvX1xk/", "p\xc3\xa4ssw\xc3\xb6rd", NULL },
	/* mkpasswd -m bcrypt / bcrypt-a / yescrypt / des; doveadm's
	   {CRYPT} (bcrypt $2y$) */
	{ "{BLF-CRYPT}$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", "secret", NULL },
	{ "{BLF-CRYPT}$2a$05$RJxYosmcHr5H6vrqvMbu0.x3XiPtwRcSmpkqRnMKgFTfaDLi7J8Gu", "secret", NULL },
	{ "{CRYPT}$2y$05$gV8pkaFk6m3lhJJaT3/yLuc/g/hnx//6zfAGpIdTWrHKFeiyl4WfC", "secret", NULL },
	{ "{CRYPT}$y$j9T$cBnvDbUDJW/k7pemVV.231$FAzUSX.Wd8VIoM6Hg.XZlZ4P10hBSIwiiiIoNwcYP.8", "secret", NULL },
	{ "{YESCRYPT}$y$j9T$cBnvDbUDJW/k7pemVV.231$FAzUSX.Wd8VIoM6Hg.XZlZ4P10hBSIwiiiIoNwcYP.8", "secret", NULL },
	{ "{DES-CRYPT}abNANd1rDfiNc", "secret", NULL },
	/* argon2 CLI (-id / -i; p=2 with a 24-byte hash), doveadm */
	{ "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$zPWqisMAxK7MeeFoPn4hFRR4SMmT7ZmHsPAtoLcEHR4", "secret", NULL },
	{ "{ARGON2I}$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$GR6qAyHe5RRCMRGQCEF+7gWpAWyrb5rsLebwPRlY/go", "secret", NULL },
	{ "{ARGON2ID}$argon2id$v=19$m=8192,t=2,p=2$c2FsdHlzYWx0eXNhbHR5IQ$Kbqa522Y5uIl6147VBo6G2UGYLDFYx6U", "secret", NULL },
	{ "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$/7R9JrA9WYSV1mbsoPHX9g$wZSMC+68m0FF1rVfJpd67fCkbSGQt1qXGJa5MHGr2Dg", "secret", NULL },
	/* python3 hashlib */
	{ "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", NULL },
	{ "{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", NULL },
	{ "{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret", NULL },
	{ "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", "secret", NULL },
	{ "{SHA.HEX}E5E9FA1BA31ECD1AE84F75CAAA474F3A663F05F4", "secret", NULL },
	{ "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret", NULL },
	{ "{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b", "secret", NULL },
	{ "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==", "secret", NULL },
	{ "{SHA512.hex}bd2b1aaf7ef4f09be9f52ce2d8d599674d81aa9d6a4421696dc4d93dd0619d682ce56b4d64a9ef097761ced99e0f67265b5f76085e5b0ee7ca4696b2ad6fe2b2", "secret", NULL },
	{ "{SSHA}nRuDORxyRfeUJDkniQj8pk4TQ4YBAv7/EA==", "secret", NULL },
	{ "{SSHA.b64}nRuDORxyRfeUJDkniQj8pk4TQ4YBAv7/EA==", "secret", NULL },
	{ "{SSHA.HEX}9d1b83391c7245f7942439278908fca64e1343860102feff10", "secret", NULL },
	{ "{SSHA256}p/Bz3o0F6ZP8qvEk/ZLUxGZTG9yOLdTyATak14x0H7wBAv7/EA==", "secret", NULL },
	{ "{SSHA512}lC7hRYCMJsH3O2DIqlYCNbjiLz7Qsgzd0s3Aw/FE/OdUz43po4g36lM5BVtWy0nuYhwo4+WJiXvV3y9J6D4UuAEC/v8Q", "secret", NULL },
	{ "{SMD5}hYpUITh4Cy5EiKLQJ/hJBwEC/v8Q", "secret", NULL },
	{ "{MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", "secret", NULL },
	{ "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", "secret", NULL },
	{ "{PLAIN-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "secret", NULL },
	{ "{LDAP-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "secret", NULL },
	{ "{DIGEST-MD5}2664cba6663a734ef3a6fefc0c0d0821", "secret", "bob@example.com" },
	{ "{DIGEST-MD5}c42c9e23d3606604ef9adb6e89574511", "secret", "bob" },
	/* python3 hashlib.pbkdf2_hmac('sha1'); the first from doveadm */
	{ "{PBKDF2}$1$OUSx6Dept97xJ1iw$5000$792d1029fbe175cde40ac7a256421708b0c33ae3", "secret", NULL },
	{ "{PBKDF2}$1$abc$1$2f883b84cb7a23a2678207747515e8f7063f0736", "secret", NULL },
	{ "{PBKDF2}$1$0123456789abcdef$12345$30cd38290954899317e261f2d791680c98f9d169", "secret", NULL },
	/* doveadm pw -s CRAM-MD5 / HMAC-MD5 (empty, and a key longer than
	   MD5's block) */
	{ "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56", "secret", NULL },
	{ "{HMAC-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56", "secret", NULL },
	{ "{CRAM-MD5}00747cf2ffaf11c5ea4a64979c3901fc1d20dee13f480bb598f7d8575b23e61b", "", NULL },
	{ "{CRAM-MD5}3ae21d35bcb420cc10d678a30813dfaff1c856d356b2c5f8429dc6087392415f",
	  "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", NULL },
	/* python3 hashlib/hmac from RFC 5802; the last from doveadm */
	{ "{SCRAM-SHA-1}4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", "secret", NULL },
	{ "{SCRAM-SHA-1}10000,c2hvcnRzYWx0,bfoe6lMn9RIbb5TwpSo9kQr1irM=,ogpOUImGwtKoA5kq9kzq2LmbbrI=", "secret", NULL },
	{ "{SCRAM-SHA-256}4096,AAECAwQFBgcICQoLDA0ODw==,THoPhoTAuqyoQsK4dUHncUzgfD8fdmhsgKZhWVqNP5U=,7YiHMMi2OcXGRogub03Ek06JRZ9bkhTOdCzHa5iPLiQ=", "secret", NULL },
	{ "{SCRAM-SHA-256}10000,c2hvcnRzYWx0,jCMXcXLZShZYZEUa1rlQZFCJ13Zd+ZmJpuG+G+4BD1A=,U9f3J+FmN7GjZoAtgAfcTvU6/GlKowaE6Xdab7jRcZ4=", "secret", NULL },
	{ "{SCRAM-SHA-256}4096,DDc8yMwjAjX0FxujvXbLDg==,zon8zdHYwXBu+JWwRoNtzuahFWPC7VN0cr4ep5dKS4A=,pLIbidwEBQHRvBLJuByp/vWz7mBiqq9rnCQKo4f4Wsg=", "secret", NULL },
	/* plaintexts */
	{ "{PLAIN}secret", "secret", NULL },
	{ "{plain}secret", "secret", NULL },
	{ "{CLEAR}secret", "secret", NULL },
	{ "{CLEARTEXT}secret", "secret", NULL },
	{ "{PLAIN.b64}c2VjcmV0", "secret", NULL },
	{ "{PLAIN.hex}736563726574", "secret", NULL },
	{ "{PLAIN}", "", NULL },
	/* no prefix: the default scheme, CRYPT */
	{ "$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0", "secret", NULL },
};

static void test_password_known_answers(void)
{
	const char *error;

	test_begin("password schemes: known answers and wrong passwords");
	for (unsigned int i = 0; i < N_ELEMENTS(kats); i++) {
		const struct kat *kat = &kats[i];

		error = NULL;
		if (password_verify(kat->password, kat->hash, kat->user,
				    &error) != 1) {
			test_fail("%s: %s", kat->hash,
				  error == NULL ? "no match" : error);
		}
		test_assert_idx(password_verify("wrong", kat->hash, kat->user,
						&error) == 0, i);
		test_assert_idx(strcmp(error, "Password mismatch") == 0, i);
		/* one byte more or less must not match either */
		const char *longer = t_strdup_printf("%sx", kat->password);
		test_assert_idx(password_verify(longer, kat->hash, kat->user,
						&error) == 0, i);
		if (kat->password[0] != '\0') {
			const char *shorter = t_strndup(kat->password,
							strlen(kat->password) - 1);
			int ret = password_verify(shorter, kat->hash,
						  kat->user, &error);
			/* DES-CRYPT only sees 8 bytes: 6 still differ */
			test_assert_idx(ret == 0, i);
		}
	}
	test_end();
}

static void test_password_default_scheme(void)
{
	const char *error;

	test_begin("password schemes: default scheme");
	test_assert(password_verify_default("secret", "secret", "PLAIN", NULL,
					    &error) == 1);
	test_assert(password_verify_default("secret", "c2VjcmV0", "PLAIN.B64",
					    NULL, &error) == 1);
	test_assert(password_verify_default("x", "secret", "PLAIN", NULL,
					    &error) == 0);
	/* a prefix wins over the default */
	test_assert(password_verify_default("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
					    "PLAIN", NULL, &error) == 1);
	/* no default: the prefix is required */
	test_assert(password_verify_default("secret", "secret", NULL, NULL,
					    &error) == -1);
	test_assert(password_verify_default("secret", "secret", "NOSUCH",
					    NULL, &error) == -1);
	/* "{" without "}" is data of the default scheme */
	test_assert(password_verify_default("{PLAIN", "{PLAIN", "PLAIN", NULL,
					    &error) == 1);
	test_end();
}

static void test_password_malformed(void)
{
	static const struct {
		const char *hash, *user;
	} bad[] = {
		{ "{FOO}secret", NULL },
		{ "{SHA.foo}5en6G6MezRroT3XKqkdPOmY/BfQ=", NULL },
		{ "{AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}x", NULL },
		{ "{}secret", NULL },
		{ "{SHA}@@@@", NULL },
		{ "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ", NULL },
		{ "{SHA}c2VjcmV0", NULL },
		{ "{SHA.HEX}zz", NULL },
		{ "{SHA.HEX}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f", NULL },
		{ "{SHA256}", NULL },
		{ "{SSHA}AAAA", NULL },
		{ "{SSHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", NULL },
		{ "{SMD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", NULL },
		{ "{PLAIN-MD5}xyz", NULL },
		{ "{MD5}not-md5", NULL },
		{ "{CRAM-MD5}cd3ba7de", NULL },
		{ "{CRAM-MD5.b64}AAAA", NULL },
		{ "{DIGEST-MD5}2664cba6663a734ef3a6fefc0c0d0821", NULL },
		{ "{PBKDF2}garbage", NULL },
		{ "{PBKDF2}$1$", NULL },
		{ "{PBKDF2}$1$salt", NULL },
		{ "{PBKDF2}$1$salt$5000", NULL },
		{ "{PBKDF2}$1$salt$x$792d1029fbe175cde40ac7a256421708b0c33ae3", NULL },
		{ "{PBKDF2}$1$salt$0$792d1029fbe175cde40ac7a256421708b0c33ae3", NULL },
		{ "{PBKDF2}$1$salt$99999999999$792d1029fbe175cde40ac7a256421708b0c33ae3", NULL },
		{ "{PBKDF2}$1$salt$5000$792d", NULL },
		{ "{PBKDF2}$1$salt$5000$792d1029fbe175cde40ac7a256421708b0c33ae3$x", NULL },
		{ "{SCRAM-SHA-1}1,2,3", NULL },
		{ "{SCRAM-SHA-1}", NULL },
		{ "{SCRAM-SHA-1}4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=,x", NULL },
		{ "{SCRAM-SHA-1}100,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", NULL },
		{ "{SCRAM-SHA-1}x4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", NULL },
		{ "{SCRAM-SHA-1}4096,,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", NULL },
		{ "{SCRAM-SHA-1}4096,!!!!,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", NULL },
		{ "{SCRAM-SHA-1}4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZ,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", NULL },
		{ "{SCRAM-SHA-256}4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=", NULL },
		{ "{ARGON2ID}$argon2id$garbage", NULL },
		{ "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA", NULL },
		{ "{ARGON2ID}$argon2id$v=19$m=x,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$zPWqisMAxK7MeeFoPn4hFRR4SMmT7ZmHsPAtoLcEHR4", NULL },
		{ "{ARGON2I}$argon2d$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$zqwo/KOqtBwBnr1/uqHBy462fBdq8z/QrffRudk+wps", NULL },
		{ "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29t*XNhbHRzb21lc2FsdA$zPWqisMAxK7MeeFoPn4hFRR4SMmT7ZmHsPAtoLcEHR4", NULL },
		{ "{CRYPT}$9$unknownmethod", NULL },
		{ "{BLF-CRYPT}$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0", NULL },
		{ "{MD5-CRYPT}$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0", NULL },
		{ "{SHA512-CRYPT}$6$rounds=x$abc$def", NULL },
		{ "{CRYPT.b64}JDkkeA==", NULL },
	};
	const char *error;

	test_begin("password schemes: malformed hashes are errors");
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		test_assert_idx(password_verify("secret", bad[i].hash,
						bad[i].user, &error) == -1, i);
		test_assert_idx(error != NULL && error[0] != '\0', i);
	}
	test_end();

	/* locked accounts and empty hashes are refusals, not errors */
	test_begin("password schemes: locked and empty crypt hashes");
	test_assert(password_verify("secret", "{CRYPT}", NULL, &error) == 0);
	test_assert(password_verify("", "{CRYPT}", NULL, &error) == 0);
	test_assert(password_verify("secret", "{CRYPT}!", NULL, &error) == 0);
	test_assert(password_verify("secret", "{CRYPT}*", NULL, &error) == 0);
	test_assert(password_verify("secret", "!$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0",
				    NULL, &error) == 0);
	test_assert(password_verify("secret", "{BLF-CRYPT}", NULL, &error) == 0);
	test_end();
}

static void test_password_generate_all(void)
{
	const char *const *names = password_scheme_names();
	const char *password = "p\xc3\xa4ss w\xc3\xb6rd:%$";
	const char *error;
	char *hash;

	test_begin("password schemes: generate and verify every scheme");
	test_assert(str_array_length(names) >= 29);
	for (unsigned int i = 0; names[i] != NULL; i++) {
		static const char *const suffixes[] = { "", ".HEX", ".b64" };

		for (unsigned int s = 0; s < N_ELEMENTS(suffixes); s++) {
			const char *scheme = t_strdup_printf("%s%s", names[i],
							     suffixes[s]);

			/* slow ones once is enough */
			if (s > 0 && (str_begins(names[i], "ARGON2") ||
				      strcmp(names[i], "YESCRYPT") == 0))
				continue;
			test_assert_idx(password_scheme_is_known(scheme), i);
			if (password_generate(password, scheme,
					      "bob@example.com", 0, &hash,
					      &error) < 0) {
				test_fail("generate %s: %s", scheme, error);
				continue;
			}
			test_assert_idx(hash[0] == '{', i);
			test_assert_idx(password_verify(password, hash,
							"bob@example.com",
							&error) == 1, i);
			test_assert_idx(password_verify("pass", hash,
							"bob@example.com",
							&error) == 0, i);
			password_hash_free(&hash);
			test_assert_idx(hash == NULL, i);
		}
	}
	test_assert(!password_scheme_is_known("NOSUCH"));
	test_assert(!password_scheme_is_known("SHA.base32"));
	test_assert(password_scheme_is_known("sha512-crypt"));
	test_end();
}

/* Every truncation and a set of byte changes of the cheap vectors: the
   answer is a match, a mismatch or an error with a message, never a crash
   or (under ASan) a read past the data. */
static void test_password_mutations(void)
{
	static const char mutations[] = { '\0', '$', ',', '=', '}', '{', 'A',
					  '0', '/', '.', '\xff' };
	const char *error;
	unsigned int checked = 0;

	test_begin("password schemes: truncated and mutated hashes");
	for (unsigned int i = 0; i < N_ELEMENTS(kats); i++) {
		const char *hash = kats[i].hash;

		/* the deliberately slow ones would take minutes */
		if (strstr(hash, "ARGON2") != NULL ||
		    strstr(hash, "$2") != NULL || strstr(hash, "$y$") != NULL ||
		    strstr(hash, "rounds=") != NULL ||
		    strstr(hash, "$12345$") != NULL ||
		    strstr(hash, "10000,") != NULL)
			continue;
		/* milliseconds each: fewer mutations */
		bool costly = strstr(hash, "$6$") != NULL ||
			strstr(hash, "$5$") != NULL ||
			strstr(hash, "PBKDF2") != NULL ||
			strstr(hash, "SCRAM") != NULL;
		unsigned int mutation_count =
			costly ? 3 : N_ELEMENTS(mutations);
		size_t len = strlen(hash), step = costly ? 5 : 1;
		for (size_t cut = 0; cut <= len; cut += step) {
			char *copy = i_strndup(hash, cut);
			int ret = password_verify(kats[i].password, copy,
						  kats[i].user, &error);

			test_assert_idx(ret >= -1 && ret <= 1, i);
			free(copy);
			checked++;
		}
		for (size_t pos = 0; pos < len; pos += step) {
			for (unsigned int m = 0; m < mutation_count; m++) {
				char *copy = i_strdup(hash);

				copy[pos] = mutations[m];
				error = NULL;
				int ret = password_verify(kats[i].password,
							  copy, kats[i].user,
							  &error);
				test_assert_idx(ret >= -1 && ret <= 1, i);
				test_assert_idx(ret == 1 || error != NULL, i);
				free(copy);
				checked++;
			}
		}
	}
	test_assert(checked > 3000);
	test_end();
}

static char *test_generate(const char *password, const char *scheme,
			   const char *user, unsigned int rounds)
{
	const char *error;
	char *hash;

	if (password_generate(password, scheme, user, rounds, &hash,
			      &error) < 0)
		return i_strdup_printf("ERROR: %s", error);
	return hash;
}

static void test_expect_generate(const char *password, const char *scheme,
				 const char *user, unsigned int rounds,
				 const char *prefix)
{
	char *hash = test_generate(password, scheme, user, rounds);

	if (!str_begins(hash, prefix))
		test_fail("%s rounds=%u: %s does not begin with %s", scheme,
			  rounds, hash, prefix);
	password_hash_free(&hash);
}

static void test_password_generate_formats(void)
{
	test_begin("password schemes: generated formats");
	/* unsalted ones are exact, and as doveadm prints them */
	test_expect_generate("secret", "sha", NULL, 0,
			     "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=");
	test_expect_generate("secret", "sha256.hex", NULL, 0,
			     "{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
	test_expect_generate("secret", "SHA512.b64", NULL, 0,
			     "{SHA512.B64}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==");
	test_expect_generate("secret", "CRAM-MD5", NULL, 0,
			     "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56");
	test_expect_generate("secret", "DIGEST-MD5", "bob@example.com", 0,
			     "{DIGEST-MD5}2664cba6663a734ef3a6fefc0c0d0821");
	test_expect_generate("secret", "LDAP-MD5", NULL, 0,
			     "{LDAP-MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==");
	test_expect_generate("secret", "PLAIN", NULL, 0, "{PLAIN}secret");
	test_expect_generate("secret", "CLEARTEXT.hex", NULL, 0,
			     "{CLEARTEXT.HEX}736563726574");
	/* salted ones by shape */
	test_expect_generate("secret", "SHA512-CRYPT", NULL, 0,
			     "{SHA512-CRYPT}$6$");
	test_expect_generate("secret", "CRYPT", NULL, 0, "{CRYPT}$6$");
	test_expect_generate("secret", "SHA256-CRYPT", NULL, 0,
			     "{SHA256-CRYPT}$5$");
	test_expect_generate("secret", "BLF-CRYPT", NULL, 0,
			     "{BLF-CRYPT}$2y$05$");
	test_expect_generate("secret", "MD5-CRYPT", NULL, 0,
			     "{MD5-CRYPT}$1$");
	test_expect_generate("secret", "MD5", NULL, 0, "{MD5}$1$");
	test_expect_generate("secret", "YESCRYPT", NULL, 0, "{CRYPT}$y$j9T$");
	test_expect_generate("secret", "ARGON2ID", NULL, 0,
			     "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$");
	test_expect_generate("secret", "ARGON2I", NULL, 0,
			     "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$");
	test_expect_generate("secret", "PBKDF2", NULL, 0, "{PBKDF2}$1$");
	test_expect_generate("secret", "SCRAM-SHA-1", NULL, 0,
			     "{SCRAM-SHA-1}4096,");
	test_expect_generate("secret", "SCRAM-SHA-256", NULL, 0,
			     "{SCRAM-SHA-256}4096,");

	char *hash = test_generate("secret", "SSHA", NULL, 0);
	const char *error;
	buffer_t *raw = buffer_create(system_pool, 64);
	test_assert(base64_decode(hash + 6, strlen(hash + 6), raw, &error) == 0);
	test_assert(raw->used == 20 + 8);
	buffer_free(&raw);
	password_hash_free(&hash);

	/* two salted hashes of one password differ */
	char *h1 = test_generate("secret", "SHA512-CRYPT", NULL, 0);
	char *h2 = test_generate("secret", "SHA512-CRYPT", NULL, 0);
	test_assert(strcmp(h1, h2) != 0);
	password_hash_free(&h1);
	password_hash_free(&h2);
	h1 = test_generate("secret", "PBKDF2", NULL, 0);
	h2 = test_generate("secret", "PBKDF2", NULL, 0);
	test_assert(strcmp(h1, h2) != 0);
	password_hash_free(&h1);
	password_hash_free(&h2);

	/* errors */
	hash = test_generate("secret", "NOSUCH", NULL, 0);
	test_assert(str_begins(hash, "ERROR: "));
	password_hash_free(&hash);
	hash = test_generate("secret", "DIGEST-MD5", NULL, 0);
	test_assert(str_begins(hash, "ERROR: "));
	password_hash_free(&hash);
	test_end();
}

static void test_password_generate_rounds(void)
{
	test_begin("password schemes: rounds as doveadm pw -r");
	test_expect_generate("x", "SHA512-CRYPT", NULL, 10000,
			     "{SHA512-CRYPT}$6$rounds=10000$");
	test_expect_generate("x", "SHA256-CRYPT", NULL, 2000,
			     "{SHA256-CRYPT}$5$rounds=2000$");
	/* the default is written without rounds=, too few are raised */
	char *hash = test_generate("x", "SHA512-CRYPT", NULL, 5000);
	test_assert(strstr(hash, "rounds=") == NULL);
	password_hash_free(&hash);
	test_expect_generate("x", "SHA512-CRYPT", NULL, 10,
			     "{SHA512-CRYPT}$6$rounds=1000$");
	test_expect_generate("x", "BLF-CRYPT", NULL, 3, "{BLF-CRYPT}$2y$04$");
	test_expect_generate("x", "BLF-CRYPT", NULL, 6, "{BLF-CRYPT}$2y$06$");
	test_expect_generate("x", "BLF-CRYPT", NULL, 32, "ERROR: ");
	test_expect_generate("x", "YESCRYPT", NULL, 3, "{CRYPT}$y$j7T$");
	test_expect_generate("x", "YESCRYPT", NULL, 12, "ERROR: ");
	test_expect_generate("x", "ARGON2I", NULL, 3,
			     "{ARGON2I}$argon2i$v=19$m=32768,t=3,p=1$");
	test_expect_generate("x", "ARGON2ID", NULL, 1,
			     "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$");
	test_expect_generate("x", "SCRAM-SHA-1", NULL, 5000,
			     "{SCRAM-SHA-1}5000,");
	test_expect_generate("x", "SCRAM-SHA-256", NULL, 100,
			     "{SCRAM-SHA-256}4096,");
	hash = test_generate("x", "PBKDF2", NULL, 7);
	test_assert(strstr(hash, "$7$") != NULL);
	password_hash_free(&hash);
	/* rounds mean nothing to these */
	test_expect_generate("secret", "SHA", NULL, 99,
			     "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=");
	test_end();
}

static void test_password_split_scheme(void)
{
	char scheme[PASSWORD_SCHEME_NAME_MAX + 1];
	const char *data;
	size_t len;

	test_begin("password_split_scheme");
	test_assert(password_split_scheme("{SHA256.HEX}abc", scheme,
					  sizeof(scheme), &data, &len) == 1);
	test_assert_strcmp(scheme, "SHA256.HEX");
	test_assert(len == 3 && strncmp(data, "abc", 3) == 0);
	test_assert(password_split_scheme("plain", scheme, sizeof(scheme),
					  &data, &len) == 0);
	test_assert(scheme[0] == '\0' && len == 5);
	test_assert(password_split_scheme("$1$salt$hash$more", scheme,
					  sizeof(scheme), &data, &len) == 1);
	test_assert_strcmp(scheme, "MD5-CRYPT");
	test_assert(len == strlen("$1$salt$hash"));
	test_assert(password_split_scheme("$1$nohash", scheme, sizeof(scheme),
					  &data, &len) == 0);
	test_assert(password_split_scheme("{ABCDEFGH}x", scheme, 4, &data,
					  &len) == -1);
	test_end();
}

static void test_password_scram_credentials(void)
{
	struct password_scram_credentials creds;
	const char *error;

	test_begin("password_scram_get_credentials");
	test_assert(password_scram_get_credentials("SCRAM-SHA-1",
		"{SCRAM-SHA-1}4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=",
		"CRYPT", &creds, &error) == 0);
	test_assert(creds.iterations == 4096);
	test_assert(creds.salt_size == 16 && creds.salt[0] == 0 &&
		    creds.salt[15] == 15);
	test_assert(creds.key_size == 20);
	test_assert_strcmp(t_base64_encode(creds.stored_key, creds.key_size),
			   "Y70Wjxts9xDvZXVZpf765VU+gt4=");
	test_assert_strcmp(t_base64_encode(creds.server_key, creds.key_size),
			   "6tMKK7QnVeI0U1t+EDZXP1e5Qys=");
	password_scram_credentials_wipe(&creds);
	test_assert(creds.iterations == 0 && creds.stored_key[0] == 0);

	/* derived from a plaintext: a fresh salt, keys that verify */
	static const char *const plain_forms[] = {
		"{PLAIN}secret", "{CLEARTEXT.b64}c2VjcmV0", "secret",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(plain_forms); i++) {
		const char *scheme = i % 2 == 0 ? "SCRAM-SHA-256" : "SCRAM-SHA-1";

		test_assert_idx(password_scram_get_credentials(scheme,
			plain_forms[i], "PLAIN", &creds, &error) == 0, i);
		const char *hash = t_strdup_printf("{%s}%u,%s,%s,%s", scheme,
			creds.iterations,
			t_base64_encode(creds.salt, creds.salt_size),
			t_base64_encode(creds.stored_key, creds.key_size),
			t_base64_encode(creds.server_key, creds.key_size));
		test_assert_idx(creds.salt_size == 16, i);
		test_assert_idx(password_verify("secret", hash, NULL,
						&error) == 1, i);
		password_scram_credentials_wipe(&creds);
	}

	/* what cannot serve SCRAM */
	test_assert(password_scram_get_credentials("SCRAM-SHA-256",
		"{SCRAM-SHA-1}4096,AAECAwQFBgcICQoLDA0ODw==,Y70Wjxts9xDvZXVZpf765VU+gt4=,6tMKK7QnVeI0U1t+EDZXP1e5Qys=",
		NULL, &creds, &error) == -1);
	test_assert(password_scram_get_credentials("SCRAM-SHA-1",
		"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", NULL, &creds, &error) == -1);
	test_assert(password_scram_get_credentials("SCRAM-SHA-1", "secret",
						   "CRYPT", &creds, &error) == -1);
	test_assert(password_scram_get_credentials("SCRAM-SHA-1", "secret",
						   NULL, &creds, &error) == -1);
	test_assert(password_scram_get_credentials("PLAIN", "{PLAIN}x",
						   NULL, &creds, &error) == -1);
	test_assert(password_scram_get_credentials("SCRAM-SHA-1",
		"{SCRAM-SHA-1}1,2,3", NULL, &creds, &error) == -1);
	test_end();
}

static void test_password_cram_md5_context(void)
{
	unsigned char ctx[PASSWORD_CRAM_MD5_CONTEXT_SIZE];
	const char *error;
	/* doveadm pw -s CRAM-MD5 -p secret */
	const char *expected =
		"cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56";
	static const char *const forms[] = {
		"{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
		"{HMAC-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
		"{PLAIN}secret", "{CLEAR}secret", "secret",
	};

	test_begin("password_cram_md5_get_context");
	for (unsigned int i = 0; i < N_ELEMENTS(forms); i++) {
		memset(ctx, 0, sizeof(ctx));
		test_assert_idx(password_cram_md5_get_context(forms[i], "PLAIN",
							      ctx, &error) == 0, i);
		string_t *hex = t_str_new(65);
		for (unsigned int j = 0; j < sizeof(ctx); j++)
			str_printfa(hex, "%02x", ctx[j]);
		test_assert_idx(strcmp(str_c(hex), expected) == 0, i);
	}
	test_assert(password_cram_md5_get_context("{SSHA}nRuDORxyRfeUJDkniQj8pk4TQ4YBAv7/EA==",
						  NULL, ctx, &error) == -1);
	test_assert(password_cram_md5_get_context("{CRAM-MD5}cd3b", NULL, ctx,
						  &error) == -1);
	test_end();
}

struct test_thread_ctx {
	unsigned int id;
	unsigned int failures;
};

static void *test_password_thread(void *context)
{
	struct test_thread_ctx *ctx = context;
	static const unsigned int picks[] = { 0, 2, 20, 30, 42, 49, 11 };
	const char *error;
	char *hash;

	for (unsigned int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < N_ELEMENTS(picks); i++) {
			const struct kat *kat = &kats[picks[i]];

			if (password_verify(kat->password, kat->hash,
					    kat->user, &error) != 1)
				ctx->failures++;
		}
		if (password_generate("threads", "SSHA512", NULL, 0, &hash,
				      &error) < 0)
			ctx->failures++;
		else {
			if (password_verify("threads", hash, NULL, &error) != 1)
				ctx->failures++;
			password_hash_free(&hash);
		}
	}
	return NULL;
}

static void test_password_threads(void)
{
	struct test_thread_ctx ctx[4];
	pthread_t threads[N_ELEMENTS(ctx)];
	unsigned int depth = t_depth();

	test_begin("password schemes: concurrent use from worker threads");
	for (unsigned int i = 0; i < N_ELEMENTS(ctx); i++) {
		ctx[i].id = i;
		ctx[i].failures = 0;
		test_assert(pthread_create(&threads[i], NULL,
					   test_password_thread, &ctx[i]) == 0);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(ctx); i++) {
		test_assert(pthread_join(threads[i], NULL) == 0);
		test_assert_idx(ctx[i].failures == 0, i);
	}
	/* nothing touched the data stack */
	test_assert(t_depth() == depth);
	test_end();
}

/* An Argon2 hash whose m= is more than the process may allocate: the
   check must fail as an error (the auth process answers a temporary
   failure and logs it), not as a wrong password. Runs in a child whose
   address space is limited; AddressSanitizer cannot run under such a
   limit (its shadow memory is a huge reservation), so it is skipped
   there. */
static void test_password_argon2_oom(void)
{
	test_begin("password schemes: Argon2 out of memory is an error, not a mismatch");
#if defined(__SANITIZE_ADDRESS__)
	/* see above */
#else
	/* m=2 GiB, as a hash made on a bigger machine could say */
	static const char hash[] = "{ARGON2ID}$argon2id$v=19$m=2097152,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$zPWqisMAxK7MeeFoPn4hFRR4SMmT7ZmHsPAtoLcEHR4";
	pid_t pid = fork();
	if (pid == 0) {
		const struct rlimit rl = {
			.rlim_cur = 512ULL * 1024 * 1024,
			.rlim_max = 512ULL * 1024 * 1024,
		};
		const char *error = NULL;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(10);
		int ret = password_verify("secret", hash, NULL, &error);
		if (ret < 0 && error != NULL &&
		    strstr(error, "out of memory") != NULL)
			_exit(0);
		_exit(ret == 0 ? 1 : 2);
	}
	int status;
	test_assert(pid > 0 && waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status));
	test_assert(WEXITSTATUS(status) == 0);
#endif
	/* a real mismatch is still a mismatch */
	const char *error;
	test_assert(password_verify("wrong", "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$zPWqisMAxK7MeeFoPn4hFRR4SMmT7ZmHsPAtoLcEHR4", NULL, &error) == 0);
	test_end();
}

test_func_t *const test_password_scheme_tests[] = {
	test_password_known_answers,
	test_password_default_scheme,
	test_password_malformed,
	test_password_mutations,
	test_password_generate_all,
	test_password_generate_formats,
	test_password_generate_rounds,
	test_password_split_scheme,
	test_password_scram_credentials,
	test_password_cram_md5_context,
	test_password_threads,
	test_password_argon2_oom,
	NULL
};
