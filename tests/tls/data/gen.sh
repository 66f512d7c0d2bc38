#!/usr/bin/env bash
# Regenerates the test PKI of tests/tls (P-256, SHA-256) with the openssl CLI. Fixed validity dates
# (openssl ca -startdate/-enddate), so the tests do not depend on the day they run: they set the
# card clock to 2025-06-01. The output is committed; rerunning makes new keys (the tests only rely
# on the structure, not on the bytes).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $work
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[ anything ]
commonName = supplied
organizationName = optional
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[ v3_client ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
CNF

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$work/$1.pem"; openssl ec -in "$work/$1.pem" -outform DER -out "$1.key.der" 2>/dev/null; }
# sign NAME CN ISSUER EXT START END
sign() {
  : > "$work/index.txt"; echo 01 > "$work/serial"
  openssl req -new -key "$work/$1.pem" -subj "/O=scws test/CN=$2" -out "$work/$1.csr"
  if [ "$3" = self ]; then
    openssl ca -batch -notext -config "$work/ca.cnf" -selfsign -keyfile "$work/$1.pem" -extensions "$4" \
      -startdate "$5" -enddate "$6" -in "$work/$1.csr" -out "$work/$1.crt" 2>/dev/null
  else
    openssl ca -batch -notext -config "$work/ca.cnf" -cert "$work/$3.crt" -keyfile "$work/$3.pem" -extensions "$4" \
      -startdate "$5" -enddate "$6" -in "$work/$1.csr" -out "$work/$1.crt" 2>/dev/null
  fi
  openssl x509 -in "$work/$1.crt" -outform DER -out "$1.der"
}

key ca;           sign ca "scws test issuer CA" self v3_ca 20240101000000Z 20440101000000Z
key other_ca;     sign other_ca "another CA" self v3_ca 20240101000000Z 20440101000000Z
key server;       sign server "scws card" ca v3_server 20240101000000Z 20440101000000Z
key client;       sign client "handset app 1" ca v3_client 20240101000000Z 20440101000000Z
key other_client; sign other_client "handset app of another CA" other_ca v3_client 20240101000000Z 20440101000000Z
key expired;      sign expired "expired handset app" ca v3_client 20200101000000Z 20210101000000Z
rm -f ca.key.der.unused
ls -l *.der
