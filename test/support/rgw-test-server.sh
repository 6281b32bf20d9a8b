#!/usr/bin/env bash
# rgw-test-server.sh — throw-away single-node Ceph cluster (1 mon, 1 OSD, no
# cephx) plus one RADOS Gateway (S3) on 127.0.0.1, entirely inside one
# directory. Debian 12 packages, Ceph 16.2.15 (pacific). No systemd, no /etc/ceph.
#
# Packages (Debian 12 bookworm), also installed by `rgw-test-server.sh deps`:
#   DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
#     ceph-mon ceph-osd radosgw ceph-common curl python3
# (ceph-mgr is not needed: with no mgr the cluster reports HEALTH_WARN "no
# active mgr" but creates pools and serves I/O. RGW_TEST_MGR=1 starts one if
# the package is installed.)
#
# Usage:
#   rgw-test-server.sh deps                  apt-get install the packages (root)
#   rgw-test-server.sh start DIR
#       DIR must not exist or be empty. Once the gateway answers a signed S3
#       request (ListBuckets) with the test user's keys, prints KEY=VALUE lines
#       (no quoting, no comments; also written to DIR/env) and exits 0; on
#       failure prints the log tails, stops what it started, exits 1.
#   rgw-test-server.sh stop DIR              kill exactly the PIDs in DIR/run/*.pid
#
# Printed keys: S3_ENDPOINT (http://127.0.0.1:PORT, path-style only),
#   S3_ACCESS_KEY / S3_SECRET_KEY (also as AWS_ACCESS_KEY_ID /
#   AWS_SECRET_ACCESS_KEY), S3_REGION=us-east-1 (RGW accepts any SigV4 region,
#   but a CreateBucket LocationConstraint other than "default" gets 400
#   InvalidLocationConstraint; us-east-1 sends none),
#   WALE_S3_ENDPOINT=http+path://127.0.0.1:PORT, RGW_CONF (DIR/etc/ceph.conf:
#   `radosgw-admin -c $RGW_CONF ...`, `ceph -c $RGW_CONF -s`), RGW_PIDFILE,
#   RGW_START_MS.
#
# Tunables (environment, read by `start`):
#   RGW_TEST_OBJECTSTORE   memstore (default: objects live in the OSD's RAM,
#                          capped by RGW_TEST_MEMSTORE_BYTES, default 4G) or
#                          bluestore (sparse 10G file DIR/osd/osd.0.block; needs
#                          O_DIRECT, so DIR must not be on tmpfs)
#   RGW_TEST_ACCESS_KEY / RGW_TEST_SECRET_KEY  (default 0555b35654ad1656d804 /
#                          h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q==,
#                          the keys Ceph's own vstart.sh uses)
#   RGW_TEST_MGR=1         also start a ceph-mgr (needs the ceph-mgr package)
#   RGW_TEST_EXTRA_CONF    lines appended to the gateway's [client.rgw.test]
#                          section, e.g. "rgw crypt s3 kms backend = testing"
#
# Brought into the repository from the project's reference notes (reference/rgw); started
# and stopped by test/support/rgw.ts, once per test file.
set -euo pipefail

PY=/usr/bin/python3
PKGS="ceph-mon ceph-osd radosgw ceph-common curl python3"

die() { echo "rgw-test-server: $*" >&2; exit 1; }

free_ports() { # N -> N free TCP ports on 127.0.0.1, one per line
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
}

spawn() { # DIR NAME CMD... : start CMD in the background, record its PID
  local d=$1 name=$2; shift 2
  RGW_TEST_DIR="$d" setsid "$@" </dev/null >"$d/log/$name.out" 2>&1 &
  echo $! > "$d/run/$name.pid"
}

running() { # PID : alive and not a zombie
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

wait_for() { # DIR NAME SECONDS CMD... : retry CMD every 0.1 s while NAME's process lives
  local d=$1 name=$2 secs=$3 pid _; shift 3
  pid=$(cat "$d/run/$name.pid")
  for _ in $(seq 1 $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    running "$pid" || { echo "rgw-test-server: $name (pid $pid) exited" >&2; return 1; }
    sleep 0.1
  done
  echo "rgw-test-server: $name not ready after $secs s: $*" >&2; return 1
}

s3_list_buckets() { # ENDPOINT ACCESS SECRET : signed (SigV4) ListBuckets must give 200
  "$PY" - "$@" <<'EOF'
import datetime, hashlib, hmac, sys, urllib.request
ep, ak, sk = sys.argv[1:4]
host = ep.split("://", 1)[1]
t = datetime.datetime.now(datetime.timezone.utc)
amzdate, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
scope = day + "/us-east-1/s3/aws4_request"
ph = hashlib.sha256(b"").hexdigest()
signed = "host;x-amz-content-sha256;x-amz-date"
creq = "\n".join(["GET", "/", "", "host:" + host, "x-amz-content-sha256:" + ph,
                  "x-amz-date:" + amzdate, "", signed, ph])
sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
k = ("AWS4" + sk).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(ep + "/", headers={
    "x-amz-date": amzdate, "x-amz-content-sha256": ph,
    "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                     % (ak, scope, signed, sig)})
with urllib.request.urlopen(req, timeout=2) as r:
    sys.exit(0 if r.status == 200 and b"ListAllMyBucketsResult" in r.read() else 1)
EOF
}

ceph_conf() { # DIR FSID MON_V2 MON_V1 RGW_PORT STORE
  local d=$1 fsid=$2 p2=$3 p1=$4 rp=$5 store=$6
  cat <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = $d/run
crash dir = $d/crash
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
keyring = $d/etc/keyring
mon data = $d/mon/\$name
osd data = $d/osd/\$name
mgr data = $d/mgr/\$name
rgw data = $d/rgw/\$name
# single OSD: replicate once, place by OSD not host, few PGs, no autoscaler
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon allow pool delete = true
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1
# commit map changes at once, not every 1 s (RGW start creates ~8 pools)
paxos propose interval = 0.05
paxos min wait = 0.01
[client]
admin socket =
# radosgw defaults to ms_mon_client_mode=secure, impossible without cephx
# (symptom: "get_initial_auth_request returned -13", RGW never listens)
ms mon client mode = crc
[mon]
mon cluster log file = $d/log/cluster.log
[osd]
osd objectstore = $store
memstore device bytes = ${RGW_TEST_MEMSTORE_BYTES:-4G}
bluestore block path = $d/osd/\$name.block
bluestore block create = true
bluestore block size = 10G
bluestore fsck on mount = false
osd memory target = 1G
osd op num shards = 1
osd op num threads per shard = 2
[client.rgw.test]
admin socket = $d/run/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$rp
rgw thread pool size = 64
# accept SSE headers over plain http (RGW default refuses them without TLS)
rgw crypt require ssl = false
# reclaim deleted objects' data within ~10 s (default: after 2 h; with
# memstore the OSD's RAM keeps growing until then)
rgw gc obj min wait = 5
rgw gc processor period = 10
${RGW_TEST_EXTRA_CONF:-}
EOF
}

cmd_start() {
  local d=${1:?usage: start DIR} t0 ports fsid uuid id store
  t0=$(date +%s%N)
  store=${RGW_TEST_OBJECTSTORE:-memstore}
  case $store in memstore|bluestore) ;; *) die "RGW_TEST_OBJECTSTORE must be memstore or bluestore";; esac
  local ak=${RGW_TEST_ACCESS_KEY:-0555b35654ad1656d804}
  local sk=${RGW_TEST_SECRET_KEY:-h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q==}
  mkdir -p "$d"
  [ -z "$(ls -A "$d")" ] || die "$d is not empty"
  d=$(cd "$d" && pwd)
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl; do
    command -v $b >/dev/null || die "missing $b: run $0 deps"
  done
  [ -x "$PY" ] || die "missing $PY: run $0 deps"
  mkdir -p "$d/etc" "$d/run" "$d/log" "$d/crash" "$d/mon/mon.a" "$d/osd" "$d/rgw/client.rgw.test"
  mapfile -t ports < <(free_ports 3)
  local p2=${ports[0]} p1=${ports[1]} rp=${ports[2]}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  uuid=$(cat /proc/sys/kernel/random/uuid)
  ceph_conf "$d" "$fsid" "$p2" "$p1" "$rp" "$store" > "$d/etc/ceph.conf"
  local C=(-c "$d/etc/ceph.conf")
  # Use only DIR's conf: CEPH_CONF also covers tools that get no -c.
  export CEPH_CONF="$d/etc/ceph.conf"

  set +e
  (
    set -e
    monmaptool --create --clobber --fsid "$fsid" \
      --addv a "[v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]" "$d/etc/monmap" >"$d/log/setup.log" 2>&1
    ceph-mon "${C[@]}" -i a --mkfs --monmap "$d/etc/monmap" >>"$d/log/setup.log" 2>&1
    spawn "$d" mon.a ceph-mon "${C[@]}" -f -i a
    wait_for "$d" mon.a 60 ceph "${C[@]}" --connect-timeout 2 mon stat
    id=$(ceph "${C[@]}" osd new "$uuid" 2>>"$d/log/setup.log")
    mkdir -p "$d/osd/osd.$id"
    ceph-osd "${C[@]}" -i "$id" --mkfs --osd-uuid "$uuid" >>"$d/log/setup.log" 2>&1
    spawn "$d" "osd.$id" ceph-osd "${C[@]}" -f -i "$id"
    if [ "${RGW_TEST_MGR:-0}" = 1 ]; then
      mkdir -p "$d/mgr/mgr.x"
      spawn "$d" mgr.x ceph-mgr "${C[@]}" -f -i x
    fi
    wait_for "$d" "osd.$id" 60 sh -c "ceph -c '$d/etc/ceph.conf' osd dump | grep -q '^osd.$id up'"
    spawn "$d" rgw radosgw "${C[@]}" -f -n client.rgw.test
    wait_for "$d" rgw 60 curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:$rp/"
    radosgw-admin "${C[@]}" user create --uid=test --display-name=test \
      --access-key="$ak" --secret="$sk" >"$d/log/user-create.log" 2>&1
    wait_for "$d" rgw 30 s3_list_buckets "http://127.0.0.1:$rp" "$ak" "$sk"
  )
  local rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    for f in "$d"/log/*; do echo "== $f" >&2; tail -n 20 "$f" >&2; done
    cmd_stop "$d"; exit 1
  fi
  {
    echo "RGW_TEST_DIR=$d"
    echo "S3_ENDPOINT=http://127.0.0.1:$rp"
    echo "S3_ACCESS_KEY=$ak"
    echo "S3_SECRET_KEY=$sk"
    echo "S3_REGION=us-east-1"
    echo "AWS_ACCESS_KEY_ID=$ak"
    echo "AWS_SECRET_ACCESS_KEY=$sk"
    echo "WALE_S3_ENDPOINT=http+path://127.0.0.1:$rp"
    echo "RGW_CONF=$d/etc/ceph.conf"
    echo "RGW_PIDFILE=$d/run/rgw.pid"
    echo "RGW_START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))"
  } | tee "$d/env"
}

term_wait() { # DIR PIDFILE... : SIGTERM each live PID started for DIR, wait up to 10 s, then SIGKILL
  local d=$1 f pid pids=() _; shift
  for f in "$@"; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    # Only kill a PID whose environment still carries RGW_TEST_DIR=DIR (set by
    # spawn), so a recycled PID is never hit.
    if [ -r "/proc/$pid/environ" ] && tr '\0' '\n' <"/proc/$pid/environ" | grep -qxF "RGW_TEST_DIR=$d"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$f"
  done
  [ ${#pids[@]} -eq 0 ] && return 0
  for _ in $(seq 1 100); do
    local alive=()
    for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && return 0
    pids=("${alive[@]}"); sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

cmd_stop() {
  local d=${1:?usage: stop DIR}
  [ -d "$d/run" ] || return 0
  d=$(cd "$d" && pwd)
  # One tier at a time. The gateway first: its shutdown does RADOS I/O (GC,
  # watches) and hangs until SIGKILL if the OSD is already gone. The monitor
  # last: an OSD stopping without a monitor waits 5 s (osd_mon_shutdown_timeout)
  # for its mark-me-down to be acknowledged.
  term_wait "$d" "$d"/run/rgw.pid
  term_wait "$d" "$d"/run/mgr.*.pid "$d"/run/osd.*.pid
  term_wait "$d" "$d"/run/mon.*.pid
}

case "${1:-}" in
  deps)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $PKGS ${RGW_TEST_MGR:+ceph-mgr} ;;
  start) shift; cmd_start "$@" ;;
  stop)  shift; cmd_stop "$@" ;;
  *) echo "usage: $0 deps | start DIR | stop DIR" >&2; exit 2 ;;
esac
