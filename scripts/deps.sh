#!/bin/sh
# Installs the Debian packages Columba needs to build, run and test, and the
# system users its processes run as. Idempotent and quick when all is there.
set -eu

PACKAGES="gcc make pkg-config meson ninja-build libssl-dev openssl
python3 python3-pytest ca-certificates libicu-dev libsqlite3-dev sqlite3
libcrypt-dev libsodium-dev dovecot-core argon2 whois zstd postfix
libpq-dev postgresql swaks fetchmail zlib1g-dev isync offlineimap3 curl"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else echo "deps: need root to run: $*" >&2; return 1
	fi
}

if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null
fi

# The users the master drops to when started as root: columba owns mail,
# columbanull runs the pre-login processes and owns nothing.
if [ "$(id -u)" = 0 ]; then
	for u in columba columbanull; do
		if ! getent passwd "$u" >/dev/null; then
			useradd --system --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin --user-group "$u"
		fi
	done
fi
