#!/usr/bin/env bash
# private-net.sh — a private, offline Tor test network on 127.0.0.1
# (3 directory authorities + 2 relays + 1 onion-service host + 1 client),
# built by hand with TestingTorNetwork 1 (no chutney needed).
#
# Needs: Debian package `tor` (provides /usr/bin/tor and /usr/bin/tor-gencert; `apt-get install -y tor`),
#        and node (used for the SOCKS5 readiness probe and the selftest's HTTP server/request).
# Tested: Debian 12, tor 0.4.9.11-0+deb12u1, node 20; bootstrap to a reachable onion in 16-44 s.
#
# Usage:
#   private-net.sh up   [DIR]  start the network, wait until the onion service is reachable
#                              through the client SocksPort, print SOCKS_PORT / ONION / TARGET_PORT /
#                              CONTROL_PORT / CONTROL_COOKIE
#   private-net.sh down [DIR]  stop every tor process of this network (by the PIDs in DIR/*/pid)
#   private-net.sh selftest [DIR]  up + HTTP request through SOCKS5 to the onion + down (exit 0 = ok)
#
# Env: BASE_PORT (default 15000) – ports BASE..BASE+99 on 127.0.0.1 are used:
#        authorities ORPort BASE+0..2, DirPort BASE+10..12; relays ORPort BASE+3..4;
#        client SocksPort BASE+50; onion-service host ControlPort BASE+51 (cookie auth: the
#        file named by CONTROL_COOKIE), where a test can publish its own onion services with
#        ADD_ONION; onion service virtual port 80 -> 127.0.0.1:BASE+80
#        (port 81 -> 127.0.0.1:BASE+81 is used by `up` for its readiness probe)
#      UP_TIMEOUT (default 180) seconds to wait in `up`.
#      OWNER_PID (optional): every tor process exits on its own once this process is gone
#        (tor's __OwningControllerProcess), so a test runner that dies cannot leave the
#        network running. `up` also writes the lines it prints to DIR/env.
#
# Only 127.0.0.1 addresses appear in the torrcs (DirAuthority lines replace the public
# authorities, no exits), so tor has nothing outside loopback to contact. For a hard guarantee
# run it (and the tests that use it) inside a private network namespace:
#   unshare -n bash -c 'ip link set lo up; ./private-net.sh up /tmp/tn; npm test; ./private-net.sh down /tmp/tn'
set -euo pipefail

CMD=${1:-selftest}
DIR=${2:-/tmp/tor-private-net}
BASE=${BASE_PORT:-15000}
UP_TIMEOUT=${UP_TIMEOUT:-180}
AUTHS="a0 a1 a2"
RELAYS="r0 r1"
SOCKS_PORT=$((BASE + 50))
CONTROL_PORT=$((BASE + 51))
TARGET_PORT=$((BASE + 80))
PROBE_PORT=$((BASE + 81))

or_port() { case $1 in a0) echo $((BASE+0));; a1) echo $((BASE+1));; a2) echo $((BASE+2));;
                       r0) echo $((BASE+3));; r1) echo $((BASE+4));; esac; }
dir_port() { case $1 in a0) echo $((BASE+10));; a1) echo $((BASE+11));; a2) echo $((BASE+12));; esac; }

down() {
  # Stop only the tor processes this script started, by the PIDs they wrote. Read them all
  # first: tor deletes its PidFile early in its shutdown and can then hang there (seen with
  # 0.4.9.11 on a loaded machine), so whatever is still alive after a grace period is killed
  # by the PIDs read here, if its command line still names this DIR.
  local pids=() f pid i alive
  for f in "$DIR"/*/pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  [ ${#pids[@]} -eq 0 ] && return 0
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "$DIR/"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -f "$DIR"/*/pid
}

# socks_rep HOST PORT: one SOCKS5 CONNECT (ATYP 3, domain name) through the client; prints the REP byte.
socks_rep() {
  node - "$SOCKS_PORT" "$1" "$2" <<'EOF'
const net = require('net');
const [sp, host, port] = process.argv.slice(2);
const s = net.connect(+sp, '127.0.0.1', () => s.write(Buffer.from([5, 1, 0])));
let st = 0;
s.setTimeout(30000, () => { console.log('timeout'); process.exit(1); });
s.on('data', d => {
  if (st++ === 0) { const h = Buffer.from(host), p = Buffer.alloc(2); p.writeUInt16BE(+port);
    s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, h.length]), h, p])); }
  else { console.log('0x' + d[1].toString(16)); s.destroy(); process.exit(0); }
});
s.on('error', e => { console.log(e.code); process.exit(1); });
EOF
}

up() {
  command -v tor >/dev/null && command -v tor-gencert >/dev/null || { echo "install tor: apt-get install -y tor" >&2; exit 1; }
  down 2>/dev/null || true
  rm -rf "$DIR"; mkdir -p "$DIR"; chmod 700 "$DIR"
  local t0; t0=$(date +%s)

  # 1. Keys. Authorities: a v3 authority identity + signing key + certificate (tor-gencert),
  #    and for every relay (authorities are relays too) the relay identity (tor --list-fingerprint).
  for n in $AUTHS $RELAYS client hs; do mkdir -p "$DIR/$n/keys"; chmod 700 "$DIR/$n"; done
  local dirauth_lines=""
  for n in $AUTHS; do
    echo "" | tor-gencert --create-identity-key --passphrase-fd 0 -m 12 \
      -a "127.0.0.1:$(dir_port $n)" \
      -i "$DIR/$n/keys/authority_identity_key" -s "$DIR/$n/keys/authority_signing_key" \
      -c "$DIR/$n/keys/authority_certificate" >/dev/null 2>&1
    local v3; v3=$(awk '/^fingerprint /{print $2}' "$DIR/$n/keys/authority_certificate")
    tor --ignore-missing-torrc -f /nonexistent --defaults-torrc /nonexistent --quiet --list-fingerprint \
      --DataDirectory "$DIR/$n" --ORPort "$(or_port $n)" --Nickname "$n" --Address 127.0.0.1 >/dev/null
    local fp; fp=$(awk '{print $2}' "$DIR/$n/fingerprint")
    dirauth_lines+="DirAuthority $n orport=$(or_port $n) no-v2 v3ident=$v3 127.0.0.1:$(dir_port $n) $fp"$'\n'
  done

  # 2. torrc pieces. common: every node. Values follow chutney's "rapid bootstrap" templates.
  common() { cat <<EOF
TestingTorNetwork 1
DataDirectory $DIR/$1
Nickname $1
PidFile $DIR/$1/pid
Log notice file $DIR/$1/notice.log
RunAsDaemon 1
ShutdownWaitLength 0
SafeLogging 0
AssumeReachable 1
PathsNeededToBuildCircuits 0.25
V3AuthNIntervalsValid 2
ConnLimit 60
${OWNER_PID:+__OwningControllerProcess $OWNER_PID}
$dirauth_lines
EOF
  }
  relay() { cat <<EOF
SocksPort 0
Address 127.0.0.1
ORPort 127.0.0.1:$(or_port $1)
ExitRelay 0
ExitPolicy reject *:*
EOF
  }
  for n in $AUTHS; do
    { common $n; relay $n; cat <<EOF
DirPort 127.0.0.1:$(dir_port $n)
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
ContactInfo $n@test.invalid
# fastest allowed voting schedule (VoteDelay + DistDelay < VotingInterval)
TestingV3AuthInitialVotingInterval 5
V3AuthVotingInterval 10
TestingV3AuthInitialVoteDelay 2
V3AuthVoteDelay 2
TestingV3AuthInitialDistDelay 2
V3AuthDistDelay 2
# give every relay the flags that normally need hours of uptime / bandwidth
TestingDirAuthVoteGuard *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteExit *
TestingMinExitFlagThreshold 0
EOF
    } > "$DIR/$n/torrc"
  done
  for n in $RELAYS; do { common $n; relay $n; } > "$DIR/$n/torrc"; done
  { common hs; cat <<EOF
SocksPort 0
HiddenServiceDir $DIR/hs/hidden_service
HiddenServicePort 80 127.0.0.1:$TARGET_PORT
HiddenServicePort 81 127.0.0.1:$PROBE_PORT
ControlPort 127.0.0.1:$CONTROL_PORT
CookieAuthentication 1
EOF
  } > "$DIR/hs/torrc"
  { common client; echo "SocksPort 127.0.0.1:$SOCKS_PORT ExtendedErrors"; } > "$DIR/client/torrc"
  mkdir -p "$DIR/hs/hidden_service"; chmod 700 "$DIR/hs/hidden_service"

  # 3. Start: authorities first, then relays, the onion-service host and the client (RunAsDaemon 1).
  #    MALLOC_ARENA_MAX=1 roughly halves the relays' memory (about 95 -> 50 MB PSS each).
  for n in $AUTHS $RELAYS hs client; do MALLOC_ARENA_MAX=1 tor -f "$DIR/$n/torrc" --quiet; done
  for i in $(seq 1 50); do [ -s "$DIR/hs/hidden_service/hostname" ] && break; sleep 0.1; done
  ONION=$(cat "$DIR/hs/hidden_service/hostname")
  echo "$ONION" > "$DIR/onion"

  # 4. Wait until the client has bootstrapped (has a consensus and can build circuits).
  while ! grep -q "Bootstrapped 100%" "$DIR/client/notice.log" 2>/dev/null; do
    [ $(( $(date +%s) - t0 )) -gt "$UP_TIMEOUT" ] && { echo "client did not bootstrap" >&2; down; exit 1; }; sleep 1; done
  echo "client bootstrapped after $(( $(date +%s) - t0 )) s" >&2
  # 5. Wait until the onion service is reachable end to end. A throw-away listener on PROBE_PORT
  #    sits behind onion port 81; ready = SOCKS5 CONNECT to ONION:81 answers REP 0x00.
  #    (Before the descriptor is published/fetched the client answers 0xf0 "descriptor not found";
  #    if the onion is reached but nothing listens on the target port, the service hides the reason
  #    and the client gets REP 0x01 "general failure".)
  node -e "require('net').createServer(c=>c.end()).listen($PROBE_PORT,'127.0.0.1')" &
  local probe_pid=$! rep=""
  while true; do
    rep=$(socks_rep "$ONION" 81 || true)
    [ "$rep" = "0x0" ] && break
    if [ $(( $(date +%s) - t0 )) -gt "$UP_TIMEOUT" ]; then
      kill $probe_pid; echo "onion service not reachable (last REP $rep)" >&2; down; exit 1
    fi
    sleep 1
  done
  kill $probe_pid
  echo "onion service reachable after $(( $(date +%s) - t0 )) s" >&2
  { echo "SOCKS_PORT=$SOCKS_PORT"
    echo "ONION=$ONION"
    echo "TARGET_PORT=$TARGET_PORT"
    echo "CONTROL_PORT=$CONTROL_PORT"
    echo "CONTROL_COOKIE=$DIR/hs/control_auth_cookie"
  } | tee "$DIR/env"
}

selftest() {
  up
  ONION=$(cat "$DIR/onion")
  # target: a tiny HTTP server on 127.0.0.1:TARGET_PORT behind the onion service
  node -e "require('http').createServer((q,s)=>s.end('hello from onion service\n')).listen($TARGET_PORT,'127.0.0.1')" &
  local web=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$TARGET_PORT") 2>/dev/null; do sleep 0.1; done   # wait for it to listen
  local ok=1 t0; t0=$(date +%s)
  # `up` already proved the onion reachable; retry anyway for up to 120 s
  while [ $(( $(date +%s) - t0 )) -lt 120 ]; do
    if out=$(node - "$SOCKS_PORT" "$ONION" <<'EOF'
const net = require('net');
const [sp, host] = process.argv.slice(2);
// raw SOCKS5: no-auth, CONNECT, ATYP 3 (domain name), port 80
const s = net.connect(+sp, '127.0.0.1', () => s.write(Buffer.from([5, 1, 0])));
let st = 0, body = '';
s.setTimeout(60000, () => { console.log('timeout'); process.exit(1); });
s.on('data', d => {
  if (st === 0) { st = 1; const h = Buffer.from(host);
    s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, h.length]), h, Buffer.from([0, 80])])); }
  else if (st === 1) { st = 2; if (d[1] !== 0) { console.log('SOCKS REP 0x' + d[1].toString(16)); process.exit(1); }
    s.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`); }
  else body += d;
});
s.on('end', () => { console.log(body.split('\r\n\r\n')[1] || body); process.exit(0); });
s.on('error', e => { console.log(e.message); process.exit(1); });
EOF
    ); then echo "reply: $out"; ok=0; break; else echo "not yet: $out" >&2; sleep 2; fi
  done
  kill $web 2>/dev/null || true
  ps -o pid,rss,vsz,pcpu,time,etime,args -p "$(cat "$DIR"/*/pid | paste -sd,)" >&2 || true
  down
  return $ok
}

case "$CMD" in
  up) up ;;
  down) down ;;
  selftest) selftest ;;
  *) echo "usage: $0 up|down|selftest [DIR]" >&2; exit 2 ;;
esac
