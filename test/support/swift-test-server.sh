#!/usr/bin/env bash
# swift-test-server.sh — throw-away single-node, single-replica OpenStack Swift
# (Debian 12 packages, Swift 2.30.1) on 127.0.0.1, entirely inside one directory.
#
# From shared/reference/swift/, adapted for the test suite (test/support/swift.ts):
# memcached takes 8192 connections (tempauth needs one per concurrent request; at
# 1024 a burst of puts got 503s, and the proxy then shunned memcached for 60 s), and
# `start` also prints SWIFT_MEMCACHED_PORT (a test flushes it to revoke tokens).
#
# Packages (Debian 12 bookworm), also installed by `swift-test-server.sh deps`:
#   DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
#     python3-swift python3-swiftclient memcached curl
# Optional Keystone (auth v3, and v2.0 through a shim), `deps --keystone` adds:
#     python3-keystone python3-keystonemiddleware
# The servers run from the python3-swift library through DIR/bin/launch.py, so
# the daemon packages (swift swift-proxy swift-account swift-container
# swift-object: swift-*-server scripts, swift-ring-builder, systemd units,
# rsyslog, uwsgi) are not needed; with them installed the script works the same.
#
# Usage:
#   swift-test-server.sh deps [--keystone]    apt-get install the packages (root)
#   swift-test-server.sh start DIR [--keystone]
#       DIR must not exist or be empty. Once every server answers, prints
#       KEY=VALUE lines (no quoting, no comments; also written to DIR/env) and
#       exits 0; on failure prints the log tails, stops what it started, exits 1.
#   swift-test-server.sh stop DIR             kill exactly the PIDs in DIR/run/*.pid
#
# Printed keys: SWIFT_AUTHURL (tempauth, auth v1.0) SWIFT_USER=test:tester
#   SWIFT_PASSWORD=testing SWIFT_AUTH_VERSION=1 SWIFT_STORAGE_URL SWIFT_PROXY_URL
#   SWIFT_PROXY_PIDFILE SWIFT_START_MS; with --keystone also SWIFT_KEYSTONE_URL,
#   SWIFT_KEYSTONE_V3_AUTHURL, SWIFT_KEYSTONE_V2_AUTHURL (the v2.0 shim),
#   SWIFT_KEYSTONE_USER/PASSWORD/TENANT (tester/testing/test, domain "default"),
#   SWIFT_KEYSTONE_PROXY_URL (RegionOne public+admin, RegionTwo internal) and
#   SWIFT_KEYSTONE_PROXY2_URL (RegionOne internal, RegionTwo public+admin),
#   SWIFT_KEYSTONE_PIDFILE.
#
# Tunables (environment, read by `start`):
#   SWIFT_TEST_LISTING_LIMIT   container_listing_limit (default 10000)
#   SWIFT_TEST_MAX_FILE_SIZE   max_file_size in bytes (default 5368709122)
#   SWIFT_TEST_TOKEN_LIFE      tempauth's token_life in seconds (default 86400)
#   SWIFT_TEST_MAX_MANIFEST_SEGMENTS  the SLO middleware's max_manifest_segments
#                              (default 1000)
#
# Nothing outside DIR is written: no /etc/swift, no systemd, no rsync, no
# syslog (the launcher points Swift at DIR/etc/swift.conf and logs to DIR/log).
# DIR's file system must support user xattrs (ext4/xfs/btrfs; tmpfs only on
# Linux >= 6.6) because the object server stores metadata in xattrs.
set -euo pipefail

PY=/usr/bin/python3   # Debian's python (a pyenv python3 on PATH lacks the modules)
PKGS="python3-swift python3-swiftclient memcached curl"
KS_PKGS="python3-keystone python3-keystonemiddleware"

die() { echo "swift-test-server: $*" >&2; exit 1; }

free_ports() { # N -> N free TCP ports on 127.0.0.1, one per line
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
}

write_launcher() { # DIR/bin/launch.py: run one Swift WSGI server from DIR/etc
  cat > "$1/bin/launch.py" <<'EOF'
# launch.py ETC_DIR SERVER CONF  (SERVER: proxy-server|account-server|...)
import logging, os, sys
etc, server, conf = sys.argv[1:4]
from swift.common import utils
# Read swift.conf (hash prefix, policies, constraints) from ETC_DIR, not /etc/swift.
utils.SWIFT_CONF_FILE = os.path.join(etc, "swift.conf")
class _NoSyslog(logging.NullHandler):          # no /dev/log here; log to stderr only
    def __init__(self, *a, **kw): super().__init__()
utils.ThreadSafeSysLogHandler = _NoSyslog
from swift.common.wsgi import run_wsgi
kw = {"verbose": True}                         # console handler -> stderr -> DIR/log
if server == "object-server":
    from swift.obj import server as objsrv
    kw["global_conf_callback"] = objsrv.global_conf_callback
sys.exit(run_wsgi(conf, server, **kw))
EOF
}

backend_conf() { # NAME PORT DIR
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 0
user = $(id -un)
swift_dir = $3/etc
devices = $3/srv/node
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_level = INFO

[pipeline:main]
pipeline = healthcheck $1-server

[app:$1-server]
use = egg:swift#$1

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
}

proxy_conf() { # PORT DIR MEMCACHE_PORT AUTH(tempauth|keystone) [KEYSTONE_URL]
  local auth_filters auth_sections
  if [ "$4" = tempauth ]; then
    auth_filters="tempauth"
    auth_sections="[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = AUTH
token_life = ${SWIFT_TEST_TOKEN_LIFE:-86400}
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test_tester2 = testing2 .admin
user_test2_tester2 = testing2 .admin"
  else
    auth_filters="authtoken keystoneauth"
    auth_sections="[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $5/v3
auth_url = $5
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = admin
username = admin
password = secret
delay_auth_decision = True
memcached_servers = 127.0.0.1:$3
service_token_roles_required = False
include_service_catalog = False

[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = AUTH_
operator_roles = admin, member"
  fi
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $2/etc
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk $auth_filters copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$3
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
max_manifest_segments = ${SWIFT_TEST_MAX_MANIFEST_SEGMENTS:-1000}
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes

$auth_sections
EOF
}

spawn() { # DIR NAME CMD... : start CMD in the background, record its PID
  local d=$1 name=$2; shift 2
  SWIFT_TEST_DIR="$d" setsid "$@" </dev/null >"$d/log/$name.log" 2>&1 &
  echo $! > "$d/run/$name.pid"
}

wait_http() { # DIR NAME URL : wait until URL answers 2xx, or the process dies / 60 s
  local d=$1 name=$2 url=$3 pid i
  pid=$(cat "$d/run/$name.pid")
  for i in $(seq 1 600); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    running "$pid" || { echo "swift-test-server: $name (pid $pid) exited" >&2; return 1; }
    sleep 0.1
  done
  echo "swift-test-server: $name not ready after 60 s: $url" >&2; return 1
}

running() { # PID : alive and not a zombie (the servers are re-parented to init,
             # which may reap them late; kill -0 succeeds on zombies)
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

cmd_stop() {
  local d=${1:?usage: stop DIR} f pid pids=() i
  [ -d "$d/run" ] || return 0
  d=$(cd "$d" && pwd)
  for f in "$d"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    # Only kill a PID whose environment still carries SWIFT_TEST_DIR=DIR
    # (set by spawn), so a recycled PID is never hit.
    if [ -r "/proc/$pid/environ" ] && tr '\0' '\n' <"/proc/$pid/environ" | grep -qxF "SWIFT_TEST_DIR=$d"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$f"
  done
  for i in $(seq 1 100); do   # up to 10 s, then SIGKILL
    local alive=()
    for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && return 0
    pids=("${alive[@]}"); sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

start_keystone() { # DIR KS_PORT
  local d=$1 kp=$2
  mkdir -p "$d/keystone/fernet-keys" "$d/keystone/credential-keys"
  chmod 700 "$d/keystone/fernet-keys" "$d/keystone/credential-keys"
  cat > "$d/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $d/log/keystone-app.log
use_stderr = false
[database]
connection = sqlite:///$d/keystone/keystone.db
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $d/keystone/fernet-keys
[fernet_receipts]
key_repository = $d/keystone/fernet-keys
[credential]
key_repository = $d/keystone/credential-keys
[cache]
enabled = false
[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
EOF
  local km=(/usr/bin/keystone-manage --config-file "$d/keystone/keystone.conf")
  # fernet_setup does not touch the DB: run it alongside db_sync. (No
  # credential_setup: the credentials API is not needed for these tests.)
  "${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >"$d/log/keystone-fernet.log" 2>&1 &
  local fpid=$!
  "${km[@]}" db_sync >>"$d/log/keystone-manage.log" 2>&1
  wait "$fpid"
  # WAL mode: Keystone (SQLAlchemy 1.4, pysqlite) leaves a read cursor open
  # after some GETs; in the default rollback-journal mode that SHARED lock makes
  # the next write on another pooled connection fail with "database is locked".
  "$PY" -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' "$d/keystone/keystone.db"
  "${km[@]}" bootstrap --bootstrap-password secret \
     --bootstrap-username admin --bootstrap-project-name admin \
     --bootstrap-role-name admin --bootstrap-service-name keystone \
     --bootstrap-region-id RegionOne \
     --bootstrap-admin-url "http://127.0.0.1:$kp" \
     --bootstrap-public-url "http://127.0.0.1:$kp" \
     --bootstrap-internal-url "http://127.0.0.1:$kp" >>"$d/log/keystone-manage.log" 2>&1
  # keystone-wsgi-public (python3-keystone) run as a script serves the public
  # app on wsgiref, single-threaded. Keep it single-threaded: with a threaded
  # server, sqlite connections left open by finished threads make writes fail
  # with "database is locked".
  OS_KEYSTONE_CONFIG_FILES="$d/keystone/keystone.conf" \
    spawn "$d" keystone "$PY" /usr/bin/keystone-wsgi-public --host 127.0.0.1 --port "$kp"
}

keystone_register_swift() { # DIR KS_PORT K1_PORT K2_PORT : service, endpoints, demo user
  "$PY" - "$1" "$2" "$3" "$4" >>"$1/log/keystone-manage.log" 2>&1 <<'EOF'
import json, sys, urllib.request
d, kp, k1, k2 = sys.argv[1:5]
base = "http://127.0.0.1:%s/v3" % kp
def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})})
    with urllib.request.urlopen(req) as r:
        return r.headers, (json.loads(r.read() or b"null"))
h, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"],
    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
tok = h["X-Subject-Token"]
_, svc = call("POST", "/services", {"service": {"type": "object-store", "name": "swift"}}, tok)
sid = svc["service"]["id"]
call("POST", "/regions", {"region": {"id": "RegionTwo"}}, tok)
# Distinct URLs so region / interface selection is observable (port K1 vs K2):
#   RegionOne public,admin -> K1   RegionOne internal -> K2
#   RegionTwo public,admin -> K2   RegionTwo internal -> K1
for region, pub, internal in (("RegionOne", k1, k2), ("RegionTwo", k2, k1)):
    for iface, port in (("public", pub), ("internal", internal), ("admin", pub)):
        call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": iface,
            "region_id": region,
            "url": "http://127.0.0.1:%s/v1/AUTH_$(project_id)s" % port}}, tok)
_, roles = call("GET", "/roles?name=member", None, tok)
member = roles["roles"][0]["id"] if roles["roles"] else \
    call("POST", "/roles", {"role": {"name": "member"}}, tok)[1]["role"]["id"]
_, proj = call("POST", "/projects", {"project": {"name": "test", "domain_id": "default"}}, tok)
pid = proj["project"]["id"]
_, user = call("POST", "/users", {"user": {"name": "tester", "domain_id": "default",
    "password": "testing", "default_project_id": pid}}, tok)
call("PUT", "/projects/%s/users/%s/roles/%s" % (pid, user["user"]["id"], member), None, tok)
print("registered object-store endpoints for project test", pid)
EOF
}

write_v2_shim() { # DIR/bin/keystone-v2-shim.py: identity v2.0 token API on top of Keystone v3
  cat > "$1/bin/keystone-v2-shim.py" <<'EOF'
# keystone-v2-shim.py PORT KEYSTONE_URL
# Keystone >= 13 (Queens) has no /v2.0 API, and Debian 12 ships Keystone 22.
# This shim answers POST /v2.0/tokens by asking Keystone v3 for a
# project-scoped token (user and project in the "default" domain) and
# re-shaping it as a v2.0 "access" document (token, tenant, serviceCatalog
# with publicURL/internalURL/adminURL per region). The token is a real
# Keystone token, so the proxy's authtoken middleware validates it as usual.
import json, sys, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, ks = int(sys.argv[1]), sys.argv[2].rstrip("/")

def v3_token(user, password, tenant_name, tenant_id):
    scope = ({"project": {"id": tenant_id}} if tenant_id else
             {"project": {"name": tenant_name, "domain": {"id": "default"}}})
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}, "scope": scope}}
    req = urllib.request.Request(ks + "/v3/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.headers["X-Subject-Token"], json.loads(r.read())["token"]

def v2_access(tok, t):
    catalog = []
    for svc in t.get("catalog", []):
        by_region = {}
        for e in svc["endpoints"]:
            ep = by_region.setdefault(e.get("region_id") or e.get("region"),
                                      {"region": e.get("region"), "id": e["id"]})
            ep[e["interface"] + "URL"] = e["url"]
        catalog.append({"type": svc["type"], "name": svc.get("name", ""),
                        "endpoints": list(by_region.values()), "endpoints_links": []})
    roles = [{"name": r["name"]} for r in t.get("roles", [])]
    p = t["project"]
    return {"access": {
        "token": {"id": tok, "expires": t["expires_at"], "issued_at": t["issued_at"],
                  "tenant": {"id": p["id"], "name": p["name"], "enabled": True}},
        "serviceCatalog": catalog,
        "user": {"id": t["user"]["id"], "name": t["user"]["name"],
                 "username": t["user"]["name"], "roles": roles, "roles_links": []},
        "metadata": {"is_admin": 0, "roles": [r["id"] for r in t.get("roles", [])]}}}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def send_json(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        if self.path.rstrip("/") in ("", "/v2.0"):
            self.send_json(200, {"version": {"id": "v2.0", "status": "deprecated",
                "links": [{"rel": "self", "href": "http://127.0.0.1:%d/v2.0/" % port}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v2.0+json"}]}})
        else:
            self.send_json(404, {"error": {"code": 404, "title": "Not Found", "message": self.path}})
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            a = json.loads(self.rfile.read(n) or b"{}")["auth"]
            pc = a["passwordCredentials"]
        except Exception:
            return self.send_json(400, {"error": {"code": 400, "title": "Bad Request",
                                                  "message": "expected auth.passwordCredentials"}})
        if self.path.rstrip("/") != "/v2.0/tokens":
            return self.send_json(404, {"error": {"code": 404, "title": "Not Found", "message": self.path}})
        try:
            tok, t = v3_token(pc.get("username"), pc.get("password"),
                              a.get("tenantName"), a.get("tenantId"))
        except urllib.error.HTTPError as e:
            return self.send_json(401 if e.code in (400, 401, 404) else e.code, {"error": {
                "code": 401, "title": "Unauthorized", "message": "keystone v3 said %d" % e.code}})
        self.send_json(200, v2_access(tok, t))

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
}

cmd_start() {
  local d=${1:?usage: start DIR [--keystone]} ks=${2:-} t0 ports
  t0=$(date +%s%N)
  mkdir -p "$d"
  [ -z "$(ls -A "$d")" ] || die "$d is not empty"
  d=$(cd "$d" && pwd)
  [ -r /usr/lib/python3/dist-packages/swift/common/wsgi.py ] && [ -x /usr/bin/memcached ] &&
    command -v curl >/dev/null || die "missing packages: run $0 deps"
  if [ "$ks" = --keystone ]; then
    [ -x /usr/bin/keystone-wsgi-public ] && [ -d /usr/lib/python3/dist-packages/keystonemiddleware ] ||
      die "missing packages: run $0 deps --keystone"
  elif [ -n "$ks" ]; then
    die "unknown option $ks"
  fi
  mkdir -p "$d/etc" "$d/run" "$d/log" "$d/bin" "$d/srv/node/d1"
  "$PY" -c "import os; open('$d/srv/node/d1/.x','w').close(); os.setxattr('$d/srv/node/d1/.x','user.swift.probe',b'1'); os.unlink('$d/srv/node/d1/.x')" \
    || die "no user xattr support on the file system of $d"
  mapfile -t ports < <(free_ports 9)
  local pp=${ports[0]} ap=${ports[1]} cp=${ports[2]} op=${ports[3]} mp=${ports[4]} kp=${ports[5]} pkp=${ports[6]} v2p=${ports[7]} pkp2=${ports[8]}

  cat > "$d/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = wale-test-suffix
swift_hash_path_prefix = wale-test-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
max_file_size = ${SWIFT_TEST_MAX_FILE_SIZE:-5368709122}
container_listing_limit = ${SWIFT_TEST_LISTING_LIMIT:-10000}
EOF
  backend_conf account "$ap" "$d" > "$d/etc/account-server.conf"
  backend_conf container "$cp" "$d" > "$d/etc/container-server.conf"
  backend_conf object "$op" "$d" > "$d/etc/object-server.conf"
  proxy_conf "$pp" "$d" "$mp" tempauth > "$d/etc/proxy-server.conf"
  write_launcher "$d"

  # Rings: 2^6 partitions, 1 replica, one device (127.0.0.1:PORT/d1) each.
  # Same result as `swift-ring-builder X.builder create 6 1 0; ... add
  # r1z1-127.0.0.1:PORT/d1 1; ... rebalance` but one process (0.4 s, not ~3 s).
  "$PY" - "$d/etc" "$ap" "$cp" "$op" >"$d/log/rings.log" 2>&1 <<'EOF' || die "ring build failed, see $d/log/rings.log"
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    b = RingBuilder(6, 1, 0)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 1, "meta": ""})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (etc, name))
EOF

  set +e
  (
    set -e
    spawn "$d" memcached /usr/bin/memcached -l 127.0.0.1 -p "$mp" -U 0 -m 64 -c 8192 -t 2 -u "$(id -un)"
    local s
    for s in account container object proxy; do
      spawn "$d" "$s-server" "$PY" "$d/bin/launch.py" "$d/etc" "$s-server" "$d/etc/$s-server.conf"
    done
    if [ "$ks" = --keystone ]; then
      start_keystone "$d" "$kp"
      proxy_conf "$pkp" "$d" "$mp" keystone "http://127.0.0.1:$kp" > "$d/etc/proxy-server-keystone.conf"
      proxy_conf "$pkp2" "$d" "$mp" keystone "http://127.0.0.1:$kp" > "$d/etc/proxy-server-keystone2.conf"
      spawn "$d" proxy-server-keystone "$PY" "$d/bin/launch.py" "$d/etc" proxy-server "$d/etc/proxy-server-keystone.conf"
      spawn "$d" proxy-server-keystone2 "$PY" "$d/bin/launch.py" "$d/etc" proxy-server "$d/etc/proxy-server-keystone2.conf"
      write_v2_shim "$d"
      spawn "$d" keystone-v2-shim "$PY" "$d/bin/keystone-v2-shim.py" "$v2p" "http://127.0.0.1:$kp"
    fi
    wait_http "$d" account-server "http://127.0.0.1:$ap/healthcheck"
    wait_http "$d" container-server "http://127.0.0.1:$cp/healthcheck"
    wait_http "$d" object-server "http://127.0.0.1:$op/healthcheck"
    wait_http "$d" proxy-server "http://127.0.0.1:$pp/healthcheck"
    if [ "$ks" = --keystone ]; then
      wait_http "$d" keystone "http://127.0.0.1:$kp/v3"
      keystone_register_swift "$d" "$kp" "$pkp" "$pkp2"
      wait_http "$d" proxy-server-keystone "http://127.0.0.1:$pkp/healthcheck"
      wait_http "$d" proxy-server-keystone2 "http://127.0.0.1:$pkp2/healthcheck"
      wait_http "$d" keystone-v2-shim "http://127.0.0.1:$v2p/v2.0"
    fi
  )
  local rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    for f in "$d"/log/*.log; do echo "== $f" >&2; tail -n 20 "$f" >&2; done
    cmd_stop "$d"; exit 1
  fi
  {
    echo "SWIFT_TEST_DIR=$d"
    echo "SWIFT_AUTHURL=http://127.0.0.1:$pp/auth/v1.0"
    echo "SWIFT_USER=test:tester"
    echo "SWIFT_PASSWORD=testing"
    echo "SWIFT_AUTH_VERSION=1"
    echo "SWIFT_STORAGE_URL=http://127.0.0.1:$pp/v1/AUTH_test"
    echo "SWIFT_PROXY_URL=http://127.0.0.1:$pp"
    echo "SWIFT_PROXY_PIDFILE=$d/run/proxy-server.pid"
    echo "SWIFT_MEMCACHED_PORT=$mp"
    if [ "$ks" = --keystone ]; then
      echo "SWIFT_KEYSTONE_URL=http://127.0.0.1:$kp"
      echo "SWIFT_KEYSTONE_V2_AUTHURL=http://127.0.0.1:$v2p/v2.0"
      echo "SWIFT_KEYSTONE_V3_AUTHURL=http://127.0.0.1:$kp/v3"
      echo "SWIFT_KEYSTONE_USER=tester"
      echo "SWIFT_KEYSTONE_PASSWORD=testing"
      echo "SWIFT_KEYSTONE_TENANT=test"
      echo "SWIFT_KEYSTONE_REGION=RegionOne"
      echo "SWIFT_KEYSTONE_PROXY_URL=http://127.0.0.1:$pkp"
      echo "SWIFT_KEYSTONE_PROXY2_URL=http://127.0.0.1:$pkp2"
      echo "SWIFT_KEYSTONE_PIDFILE=$d/run/keystone.pid"
    fi
    echo "SWIFT_START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))"
  } | tee "$d/env"
}

case "${1:-}" in
  deps)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $PKGS ${2:+$KS_PKGS} ;;
  start) shift; cmd_start "$@" ;;
  stop)  shift; cmd_stop "$@" ;;
  *) echo "usage: $0 deps [--keystone] | start DIR [--keystone] | stop DIR" >&2; exit 2 ;;
esac
