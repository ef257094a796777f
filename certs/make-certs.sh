#!/bin/sh
# make-certs.sh [-f] [DIR]: a local development CA and the certificates the
# proxy, the two stub upstreams and the tests use (certs/README.md).
#
#   DIR   where the files go (default: the directory of this script)
#   -f    make a new CA even if DIR already holds one (every certificate
#         issued by the old CA stops being trusted)
#
# Keys are EC P-256 (quick to make, quick handshakes), written mode 0600.
# Only the OpenSSL command-line tool is needed.
set -eu

force=0
if [ "${1:-}" = "-f" ]; then force=1; shift; fi
if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "usage: $0 [-f] [DIR]" >&2
    exit 2
fi
dir=${1:-$(dirname "$0")}
mkdir -p "$dir"
cd "$dir"
command -v openssl >/dev/null || { echo "make-certs.sh: openssl not found" >&2; exit 1; }

CA_DAYS=3650  # the development CA: ten years
LEAF_DAYS=397 # server and client certificates: the public-CA maximum
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

newkey() { # FILE
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

# A CA: NAME CN
make_ca() {
    newkey "$1.key"
    openssl req -new -x509 -key "$1.key" -out "$1.pem" -days "$CA_DAYS" -sha256 \
        -subj "/O=shadowproxy development/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
    chmod 644 "$1.pem"
}

# A leaf signed by a CA: NAME CA CN USAGE SAN (USAGE: serverAuth or clientAuth;
# SAN may be empty)
make_leaf() {
    name=$1 ca=$2 cn=$3 usage=$4 san=$5
    newkey "$name.key"
    openssl req -new -key "$name.key" -out "$work/$name.csr" -subj "/O=shadowproxy development/CN=$cn"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=$usage"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid"
        if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
    } >"$work/$name.ext"
    openssl x509 -req -in "$work/$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$LEAF_DAYS" -sha256 \
        -extfile "$work/$name.ext" -out "$name.pem" 2>/dev/null
    chmod 644 "$name.pem"
}

# The curl/shadowproxy pin of a certificate's public key: sha256//BASE64
make_pin() { # NAME
    pin=$(openssl x509 -in "$1.pem" -pubkey -noout | openssl pkey -pubin -outform der |
          openssl dgst -sha256 -binary | openssl base64 -A)
    echo "sha256//$pin" >"$1.pin"
    chmod 644 "$1.pin"
}

# A server certificate that expired long ago (openssl ca sets past dates).
make_expired() { # NAME CA CN SAN
    name=$1 ca=$2 cn=$3 san=$4
    newkey "$name.key"
    openssl req -new -key "$name.key" -out "$work/$name.csr" -subj "/O=shadowproxy development/CN=$cn"
    : >"$work/index.txt"
    cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = dev
[dev]
database = $work/index.txt
new_certs_dir = $work
certificate = $ca.pem
private_key = $ca.key
default_md = sha256
policy = any
rand_serial = yes
unique_subject = no
x509_extensions = leaf
[any]
organizationName = optional
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
EOF
    openssl ca -batch -notext -config "$work/ca.cnf" -in "$work/$name.csr" -out "$name.pem" \
        -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null
    chmod 644 "$name.pem"
}

if [ "$force" = 1 ] || [ ! -s ca.pem ] || [ ! -s ca.key ]; then
    make_ca ca "shadowproxy dev CA"
    echo "new CA: $dir/ca.pem"
else
    echo "keeping the CA: $dir/ca.pem"
fi

local_san="DNS:localhost,IP:127.0.0.1,IP:::1"
make_leaf proxy ca localhost serverAuth "$local_san"
make_leaf legacy ca legacy.erp.test serverAuth "DNS:legacy.erp.test,$local_san"
make_leaf new ca new.erp.test serverAuth "DNS:new.erp.test,$local_san"
make_leaf client ca "shadowproxy client" clientAuth ""
make_pin legacy
make_pin new

# For tests: a certificate past its end date, one for another name, and a
# second CA the proxy does not trust, with a client certificate of its own.
make_expired expired ca localhost "$local_san"
make_leaf wrongname ca wrong.example serverAuth "DNS:wrong.example"
make_ca other-ca "another CA"
make_leaf other-client other-ca "untrusted client" clientAuth ""

echo "certificates in $dir: ca proxy legacy new client expired wrongname other-ca other-client (.pem, .key)"
