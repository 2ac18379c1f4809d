# Sourced by scripts/demo: starts and stops the real HAProxy and supervisord with the
# config files under examples/ (the same ones the end-to-end tests and docker-compose.yml
# use), on loopback ports and sockets in a temp folder.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stack_env() {
    local run=$1 listener=$2
    export SH_RUN_DIR=$run SH_LISTENER=$listener
    export SH_SUPERVISORD_LOG=$run/supervisord.log SH_LISTENER_LOG=$run/listener.log SH_WWW=$TOP/examples/www
    export SH_STATS_TCP=ipv4@127.0.0.1:$(free_port)
    export SH_STATS_UNIX=$run/admin.sock SH_STATS_USER=$run/user.sock
    export SH_FRONTEND=127.0.0.1:$(free_port)
    export SH_SUPERVISOR_HTTP=127.0.0.1:$(free_port) SH_SUPERVISOR_USER=operator SH_SUPERVISOR_PASSWORD=s3cret
    export SH_APP_HOST=127.0.0.1 SH_APP_BIND=127.0.0.1
    export SH_WEB1_PORT=$(free_port) SH_WEB2_PORT=$(free_port)
    # api_00 and api_01 listen on base + process number. The pair lies below the ephemeral
    # range: bind(0) hands out odd ports and connect() even ones, so free_port + 1 is where
    # some connection's source port lands.
    SH_API_PORT_BASE=$(python3 -c 'import random, socket
while True:
    p = 20000 + 2 * random.randrange(6000)
    try:
        for q in (p, p + 1): socket.socket().bind(("127.0.0.1", q))
    except OSError: continue
    print(p); break')
    export SH_API_PORT_BASE SH_API_PORT_1=$((SH_API_PORT_BASE + 1))
}

haproxy_cmd() {
    echo "$1" | socat -t 2 - "UNIX-CONNECT:$SH_STATS_UNIX"
}

# "web/web1 maint" lines: admin state from srv_admin_state's forced bits (1 maint, 8 drain).
server_states() {
    haproxy_cmd "show servers state" | awk 'NF >= 7 && $1 ~ /^[0-9]+$/ {
        a = $7 + 0; s = (a % 2 == 1) ? "maint" : (int(a / 8) % 2 == 1 ? "drain" : "ready")
        o = ($6 == 2) ? "up" : ($6 == 0 ? "down" : "op" $6)
        printf "%s/%s %s %s\n", $2, $4, s, o }'
}

wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}

stack_start() {
    haproxy -db -f "$TOP/examples/haproxy.cfg" >"$SH_RUN_DIR/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    wait_for 10 haproxy_cmd "show info" || { cat "$SH_RUN_DIR/haproxy.log"; return 1; }
    supervisord -c "$TOP/examples/supervisord.conf" >"$SH_RUN_DIR/supervisord.out" 2>&1 &
    SUPERVISORD_PID=$!
    wait_for 10 test -S "$SH_RUN_DIR/supervisor.sock"
}

ctl() { supervisorctl -c "$TOP/examples/supervisord.conf" "$@"; }

stack_stop() {
    # Their exit statuses (143 after SIGTERM) are not the demo's.
    if [ -n "${SUPERVISORD_PID:-}" ]; then kill "$SUPERVISORD_PID" 2>/dev/null; wait "$SUPERVISORD_PID" 2>/dev/null || true; fi
    if [ -n "${HAPROXY_PID:-}" ]; then kill "$HAPROXY_PID" 2>/dev/null; wait "$HAPROXY_PID" 2>/dev/null || true; fi
    return 0
}
