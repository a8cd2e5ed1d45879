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
service imap-login {
  inet_listener imap {
    port = $imap_port
  }
  inet_listener imaps {
    port = $imaps_port
  }
}
CONF
fi

cat <<MSG

  Columba development server
    IMAP   127.0.0.1:$imap_port (STARTTLS)    IMAPS  127.0.0.1:$imaps_port
    try:   openssl s_client -quiet -starttls imap -connect 127.0.0.1:$imap_port
    demo user: demo / $(cat "$run/demo-password")   (in $run/users; logins
               open once the authentication work lands: LOGINDISABLED today)
    config: $run/columba.conf    Ctrl-C stops the server

MSG
exec "$bin" -F -c "$run/columba.conf"
