#!/usr/bin/env bash
# make-certs.sh [DIR] [NODES]: a local CA and certificates for a sessionraft cluster, with openssl.
#   DIR/ca.crt, ca.key                the cluster CA (--tls-ca; the SDK's tls.ca)
#   DIR/node-K.crt, node-K.key        node K (subject CN node-K, which peers check; K = 1..NODES)
#   DIR/client.crt, client.key        a client certificate (CN client), for the SDK's tls.cert/key
# Node certificates name localhost, 127.0.0.1, ::1 and 127.0.0.21-23 (the compose and container
# addresses); add more with SANS="DNS:db1.example,IP:10.0.0.1". ECDSA P-256, valid 825 days.
# Keeps an existing CA and certificates unless FORCE=1. Defaults: DIR=certs, NODES=3.
set -euo pipefail
DIR=${1:-certs}
NODES=${2:-3}
DAYS=825
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"
umask 077
if [ -f ca.crt ] && [ "${FORCE:-0}" != 1 ]; then
  echo "make-certs: $DIR/ca.crt exists; keeping it (FORCE=1 to make new ones)" >&2
  exit 0
fi
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$DAYS" -subj "/O=sessionraft/CN=sessionraft local CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt

# sign NAME CN EKU [SANS]
sign() {
  local name=$1 cn=$2 eku=$3 sans=${4:-}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/O=sessionraft/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [ -n "$sans" ]; then echo "subjectAltName=$sans"; fi
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$DAYS" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
base_sans="DNS:localhost,IP:127.0.0.1,IP:::1,IP:127.0.0.21,IP:127.0.0.22,IP:127.0.0.23${SANS:+,$SANS}"
for k in $(seq 1 "$NODES"); do
  # serverAuth: clients and peers dial it; clientAuth: it dials its peers
  sign "node-$k" "node-$k" "serverAuth,clientAuth" "DNS:node-$k,$base_sans"
done
sign client client clientAuth
rm -f ca.srl
chmod 600 ./*.key
chmod 644 ./*.crt
echo "make-certs: CA and certificates for nodes 1-$NODES and a client in $DIR" >&2
