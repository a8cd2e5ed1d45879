#!/usr/bin/env bash
# `make run`: a development server in the foreground, with its state in
# ./run (created on first use): a self-signed certificate, a passwd-file
# with a demo user, and a configuration that only moves the ports above
# 1024 and the directories into ./run. Everything else is the embedded
# default configuration. Ctrl-C stops it.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/run"
bin="$top/$build/src/columba/columba"
imap_port=${COLUMBA_IMAP_PORT:-10143}
imaps_port=${COLUMBA_IMAPS_PORT:-10993}
pop3_port=${COLUMBA_POP3_PORT:-10110}
pop3s_port=${COLUMBA_POP3S_PORT:-10995}
lmtp_port=${COLUMBA_LMTP_PORT:-10024}

mkdir -p "$run"
# the chrooted login process and the service users must reach base_dir
chmod 755 "$run"

if [ ! -f "$run/ssl-cert.pem" ]; then
	echo "run: creating a self-signed certificate for localhost"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 3650 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$run/ssl-key.pem" -out "$run/ssl-cert.pem" 2>/dev/null
	chmod 600 "$run/ssl-key.pem"
fi

if [ ! -f "$run/users" ]; then
	pw=$(openssl rand -base64 12 | tr -d '/+=' | cut -c1-12)
	hash=$(openssl passwd -6 "$pw")
	# Dovecot's passwd-file format
	echo "demo:{SHA512-CRYPT}$hash::::::" > "$run/users"
	echo "$pw" > "$run/demo-password"
	chmod 600 "$run/users" "$run/demo-password"
fi
# run as root, the auth process (user columba) reads the users file and
# the mail process (user columba) writes the mail under state/
mkdir -p "$run/state"
if [ "$(id -u)" = 0 ] && id columba >/dev/null 2>&1; then
	chown columba "$run/users"
	chown columba "$run/state"
fi

if [ ! -f "$run/columba.conf" ]; then
	cat > "$run/columba.conf" <<CONF
# Written by 'make run' on first use; edit freely. Everything not set here
# is the embedded default ('build/src/columba/columba config -c $run/columba.conf'
# prints the effective configuration).
base_dir = $run/base
state_dir = $run/state
listen = 127.0.0.1
ssl_cert = <$run/ssl-cert.pem
ssl_key = <$run/ssl-key.pem
protocols = imap pop3 lmtp
# demo@localhost (LMTP needs a domain) and demo are the same user
auth_username_format = %Ln
passdb {
  driver = passwd-file
  args = $run/users
}
userdb {
  driver = passwd-file
  args = $run/users
}
service imap-login {
  inet_listener imap {
    port = $imap_port
  }
  inet_listener imaps {
    port = $imaps_port
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $pop3_port
  }
  inet_listener pop3s {
    port = $pop3s_port
  }
}
service mail {
  inet_listener lmtp {
    port = $lmtp_port
  }
}
CONF
fi

cat <<MSG

  Columba development server
    IMAP   127.0.0.1:$imap_port (STARTTLS)    IMAPS  127.0.0.1:$imaps_port
    POP3   127.0.0.1:$pop3_port (STLS)        POP3S  127.0.0.1:$pop3s_port
    LMTP   127.0.0.1:$lmtp_port (deliver to demo@localhost)
    try:   openssl s_client -quiet -starttls imap -connect 127.0.0.1:$imap_port
    demo user: demo / $(cat "$run/demo-password")   (in $run/users; mail in
               $run/state/home/demo)
    config: $run/columba.conf    Ctrl-C stops the server

MSG
exec "$bin" -F -c "$run/columba.conf"
