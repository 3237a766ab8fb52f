#!/bin/sh
# The host key persists in a volume: the hub pins it (extra.host_key), a new key would be refused.
set -eu
mkdir -p /etc/ssh/keys
[ -f /etc/ssh/keys/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/keys/ssh_host_ed25519_key
id erp >/dev/null 2>&1 || useradd --no-create-home --home-dir /srv/sftp --shell /usr/sbin/nologin erp
echo "erp:${ERP_SFTP_PASSWORD:?set ERP_SFTP_PASSWORD in .env}" | chpasswd
for d in export import archive error; do mkdir -p "/srv/sftp/$d"; chown erp "/srv/sftp/$d"; done
exec /usr/sbin/sshd -D -e
