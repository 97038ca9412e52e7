#!/usr/bin/env bash
# Scenario 5: remote exports.  Three servers in one network namespace,
# reached over a veth pair from another, with TLS required and client
# certificates verified (X.509 made here); RAID5 and XFS over them as in
# scenario 1.  A client without a certificate signed by our CA, and one
# without TLS, are refused.
#   scripts/e2e 5
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 32)
server=10.77.0.2

# make_cert NAME SUBJECT-CN EXTENSIONS: NAME-key.pem and NAME-cert.pem,
# signed by ca-key.pem.
make_cert() {
  local name=$1 cn=$2 ext=$3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name-key.pem" \
    -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca-cert.pem -CAkey ca-key.pem \
    -CAcreateserial -days 2 -out "$name-cert.pem" \
    -extfile <(printf '%s\n' "$ext") 2>/dev/null
}

make_pki() {
  mkdir -p "$work/pki" "$work/other" && cd "$work/pki"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca-key.pem \
    -subj "/CN=nbd-integrity test CA" -days 2 -out ca-cert.pem \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  make_cert server "$server" "subjectAltName=IP:$server
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
  make_cert client "md-host" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
  # A client certificate from a CA the server does not trust.
  cd "$work/other"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca-key.pem \
    -subj "/CN=someone else" -days 2 -out ca-cert.pem \
    -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
  make_cert client "intruder" "extendedKeyUsage=clientAuth"
  cd "$work"
}

make_network() {
  ip netns add srv
  ip link add veth-cli type veth peer name veth-srv
  ip link set veth-srv netns srv
  ip addr add 10.77.0.1/24 dev veth-cli
  ip link set veth-cli up
  ip netns exec srv ip addr add "$server/24" dev veth-srv
  ip netns exec srv ip link set veth-srv up
  ip netns exec srv ip link set lo up
}

# serve_tls I: disk dI on port 10809+I in the server's namespace.
serve_tls() {
  local i=$1
  ip netns exec srv nbdkit -f --tls=require --tls-certificates="$work/pki" \
    --tls-verify-peer -i "$server" -p $((10809 + i)) -P "$run/d$i.pid" \
    "$plugin" file="$work/d$i.img" 2>>"$work/d$i.log" &
  wait_for "server d$i" test -s "$run/d$i.pid"
}

# attach_tls I DEVICE [CERTIFICATE-OPTIONS...]
attach_tls() {
  local i=$1 dev=$2
  shift 2
  nbd-client "$server" $((10809 + i)) "$dev" -b 4096 -timeout 30 "$@" \
    >"$work/attach.log" 2>&1
}

make_pki
make_network
ours=(-enable-tls -cacertfile "$work/pki/ca-cert.pem"
  -certfile "$work/pki/client-cert.pem" -keyfile "$work/pki/client-key.pem")
for i in 0 1 2; do
  format "d$i" 200M
  serve_tls "$i"
  attach_tls "$i" "/dev/nbd$i" "${ours[@]}" ||
    fail "attach d$i over TLS: $(cat "$work/attach.log")"
done

if attach_tls 0 /dev/nbd5; then fail "a client without TLS was served"; fi
if attach_tls 0 /dev/nbd5 -enable-tls -cacertfile "$work/pki/ca-cert.pem"; then
  fail "a client without a certificate was served"
fi
if attach_tls 0 /dev/nbd5 -enable-tls -cacertfile "$work/pki/ca-cert.pem" \
  -certfile "$work/other/client-cert.pem" -keyfile "$work/other/client-key.pem"; then
  fail "a client with a certificate of another CA was served"
fi
[ "$(cat /sys/block/nbd5/size)" = 0 ] || fail "nbd5 was attached"
say "refused: no TLS, no client certificate, a certificate of another CA"

md_create /dev/md0 5 /dev/nbd0 /dev/nbd1 /dev/nbd2
mkfs.xfs -q /dev/md0
mkdir "$work/mnt" && mount /dev/md0 "$work/mnt"
tar -C "$work/mnt" -xf "$src"
remount_check /dev/md0 "$src"
say "RAID5 and XFS over TLS from another namespace: every file matches"
teardown /dev/md0 d0 d1 d2
say "every member verifies clean"
