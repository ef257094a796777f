#!/bin/sh
# shadowproxy-compose-init: docker-compose.yml's one-shot "certs" service.
# Runs as root in the shadowproxy image, once per `docker compose up`:
#
# - development certificates (certs/make-certs.sh) in the "certs" volume:
#   made when missing or ending within 30 days; the CA is kept, so clients
#   that trust it keep working;
# - the admin token in the "secrets" volume: $SHADOWPROXY_ADMIN_TOKEN when
#   it is set, else 32 random bytes (hex) made once and kept;
# - owners: everything belongs to the image's user (shadowproxy); the token
#   file's group is 65534 (nogroup), Prometheus' group, so that Prometheus
#   can read it and no one else can.
#
# The paths and owners can be changed through the environment (the tests run
# it outside a container).
set -eu
certs=${SP_CERTS_DIR:-/etc/shadowproxy/certs}
secrets=${SP_SECRETS_DIR:-/run/secrets/shadowproxy}
state=${SP_STATE_DIR:-/var/lib/shadowproxy}
logs=${SP_LOG_DIR:-/var/log/shadowproxy}
user=${SP_USER:-shadowproxy}
group=${SP_GROUP:-$user}
token_group=${SP_TOKEN_GROUP:-65534}
make_certs=${SP_MAKE_CERTS:-shadowproxy-make-certs}

if [ -s "$certs/proxy.pem" ] && openssl x509 -checkend 2592000 -noout -in "$certs/proxy.pem" >/dev/null 2>&1; then
    echo "certificates: kept ($certs)"
else
    "$make_certs" "$certs"
fi
mkdir -p "$secrets" "$state" "$logs"
chown -R "$user:$group" "$certs"
chmod 0750 "$certs"

umask 077
token=$secrets/admin-token
if [ -n "${SHADOWPROXY_ADMIN_TOKEN:-}" ]; then
    printf '%s' "$SHADOWPROXY_ADMIN_TOKEN" >"$token.tmp"
    mv "$token.tmp" "$token"
    echo "admin token: from SHADOWPROXY_ADMIN_TOKEN"
elif [ -s "$token" ]; then
    echo "admin token: kept ($token)"
else
    openssl rand -hex 32 | tr -d '\n' >"$token.tmp"
    mv "$token.tmp" "$token"
    echo "admin token: new, in $token (docker compose exec shadowproxy cat $token)"
fi
chown "$user:$token_group" "$secrets" "$token"
chmod 0750 "$secrets"
chmod 0640 "$token"

# The state file and the diff log: written by the proxy's user.
chown "$user:$group" "$state" "$logs"
