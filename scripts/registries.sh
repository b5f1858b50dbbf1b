#!/bin/bash
# Local registries that stand in for Docker Hub and a private Harbor on a machine with no internet.
#
#   bash scripts/registries.sh start|stop|status
#
# Three instances of Debian's docker-registry (distribution 2.8), all on 127.0.0.1 only:
#   open  127.0.0.1:5000  plain HTTP, no auth      (the docker.io mirror in tests)
#   auth  127.0.0.1:5001  plain HTTP, htpasswd basic auth admin / Harbor12345 (a private Harbor)
#   tls   127.0.0.1:5002  HTTPS with a self-signed CA generated here once, no auth
# State (configs, data, pid files, logs, TLS material) lives under $SEABOX_FIXTURES/registries/.
# Idempotent: a registry that already answers GET /v2/ on its port is left alone; start waits until
# each one answers; stop kills what the pid files name.
set -euo pipefail

FIXTURES=${SEABOX_FIXTURES:-/var/lib/seabox-fixtures}
BASE=$FIXTURES/registries
BIN=${SEABOX_REGISTRY_BIN:-/usr/bin/docker-registry}
NAMES=(open auth tls)
USER_NAME=admin
USER_PASS=Harbor12345

say() { printf '==> registries: %s\n' "$*"; }
die() { printf 'registries: error: %s\n' "$*" >&2; exit 1; }

port_of() { case $1 in open) echo 5000 ;; auth) echo 5001 ;; tls) echo 5002 ;; esac; }
url_of() { if [[ $1 == tls ]]; then echo "https://127.0.0.1:$(port_of "$1")/v2/"; else echo "http://127.0.0.1:$(port_of "$1")/v2/"; fi; }

# HTTP status of GET /v2/ ("000" when nothing answers). 200 (open, tls) or 401 (auth) means it is up.
probe() {
  local name=$1 extra=()
  [[ $name == tls && -f $BASE/tls/ca.pem ]] && extra=(--cacert "$BASE/tls/ca.pem")
  curl -s -o /dev/null -m 2 -w '%{http_code}' "${extra[@]}" "$(url_of "$name")" 2>/dev/null || true
}

answers() {
  local code
  code=$(probe "$1")
  [[ $code == 200 || $code == 401 ]]
}

pid_alive() {
  local pidfile=$BASE/$1/registry.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

make_tls() {
  local d=$BASE/tls
  if [[ -f $d/ca.pem && -f $d/server.pem && -f $d/server.key ]]; then
    say "tls: CA and server certificate present in $d"
    return
  fi
  say "tls: generating self-signed CA and a server certificate for 127.0.0.1/localhost in $d"
  mkdir -p "$d"
  cat > "$d/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = seabox fixtures test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  cat > "$d/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
    -keyout "$d/ca.key" -out "$d/ca.pem" -config "$d/ca.cnf" 2>"$d/openssl.log" || die "openssl CA: $(tail -3 "$d/openssl.log")"
  openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>>"$d/openssl.log" || die "openssl CSR: $(tail -3 "$d/openssl.log")"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$d/server.ext" -out "$d/server.pem" 2>>"$d/openssl.log" \
    || die "openssl sign: $(tail -3 "$d/openssl.log")"
  # a certs.d-style directory for skopeo/containers (--cert-dir): the CA as ca.crt
  mkdir -p "$d/certs.d"
  cp "$d/ca.pem" "$d/certs.d/ca.crt"
  chmod 600 "$d/ca.key" "$d/server.key"
}

make_htpasswd() {
  local f=$BASE/auth/htpasswd
  if [[ -f $f ]] && htpasswd -vb "$f" "$USER_NAME" "$USER_PASS" >/dev/null 2>&1; then
    say "auth: htpasswd for $USER_NAME present"
    return
  fi
  say "auth: writing bcrypt htpasswd for $USER_NAME"
  htpasswd -Bbn "$USER_NAME" "$USER_PASS" > "$f.tmp" || die "htpasswd failed"
  mv "$f.tmp" "$f"
}

write_config() {
  local name=$1 port
  port=$(port_of "$name")
  local d=$BASE/$name secret
  mkdir -p "$d/data"
  if [[ -f $d/http-secret ]]; then secret=$(cat "$d/http-secret"); else
    secret=$(openssl rand -hex 16); echo "$secret" > "$d/http-secret"; fi
  {
    cat <<EOF
# written by scripts/registries.sh; regenerated on every start
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    if [[ $name == tls ]]; then
      cat <<EOF
  tls:
    certificate: $BASE/tls/server.pem
    key: $BASE/tls/server.key
EOF
    fi
    if [[ $name == auth ]]; then
      cat <<EOF
auth:
  htpasswd:
    realm: seabox-harbor
    path: $BASE/auth/htpasswd
EOF
    fi
  } > "$d/config.yml"
}

start_one() {
  local name=$1 port d
  port=$(port_of "$name")
  d=$BASE/$name
  if answers "$name"; then
    say "$name: already answering on 127.0.0.1:$port, left as it is"
    return
  fi
  if [[ -f $d/registry.pid ]] && ! pid_alive "$name"; then
    say "$name: removing stale pid file"
    rm -f "$d/registry.pid"
  fi
  if pid_alive "$name"; then
    say "$name: pid $(cat "$d/registry.pid") is running but not answering yet"
  else
    write_config "$name"
    say "$name: starting docker-registry on 127.0.0.1:$port (log $d/registry.log)"
    setsid "$BIN" serve "$d/config.yml" >>"$d/registry.log" 2>&1 < /dev/null &
    echo $! > "$d/registry.pid"
  fi
  local i
  for ((i = 0; i < 100; i++)); do
    if answers "$name"; then
      say "$name: answering on $(url_of "$name") (pid $(cat "$d/registry.pid"))"
      return
    fi
    if ! pid_alive "$name"; then
      die "$name: docker-registry exited: $(tail -3 "$d/registry.log" | tr '\n' ' ')"
    fi
    sleep 0.1
  done
  die "$name: no answer on $(url_of "$name") after 10 s: $(tail -3 "$d/registry.log" | tr '\n' ' ')"
}

stop_one() {
  local name=$1 d=$BASE/$1 pid
  if ! [[ -f $d/registry.pid ]]; then
    say "$name: no pid file, nothing to stop"
    return
  fi
  pid=$(cat "$d/registry.pid")
  if kill -0 "$pid" 2>/dev/null; then
    say "$name: stopping pid $pid"
    kill "$pid"
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "$name: pid $pid still alive, SIGKILL"; kill -9 "$pid" || true; fi
  else
    say "$name: pid $pid not running"
  fi
  rm -f "$d/registry.pid"
}

status_one() {
  local name=$1 state pid=-
  [[ -f $BASE/$name/registry.pid ]] && pid=$(cat "$BASE/$name/registry.pid")
  if answers "$name"; then state=up; else state=down; fi
  printf '%-5s %-26s %-5s pid %s\n' "$name" "$(url_of "$name")" "$state" "$pid"
  [[ $state == up ]]
}

cmd=${1:-}
case $cmd in
  start)
    [[ -x $BIN ]] || die "$BIN not found (apt-get install docker-registry)"
    command -v htpasswd >/dev/null || die "htpasswd not found (apt-get install apache2-utils)"
    mkdir -p "$BASE"/{open,auth,tls}
    make_tls
    make_htpasswd
    for n in "${NAMES[@]}"; do start_one "$n"; done
    ;;
  stop)
    for n in "${NAMES[@]}"; do stop_one "$n"; done
    ;;
  status)
    rc=0
    for n in "${NAMES[@]}"; do status_one "$n" || rc=1; done
    exit $rc
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
