# Sourced by the bench scripts: the tools check, a one-worker nginx on
# loopback in "$tmp" (the caller's temporary directory, which its cleanup
# removes after `stop_nginx`), and wrk's requests per second against it.

# need TOOL...: exits with a one-line message if one is missing.
need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)" >&2; exit 1; }
    done
}

# start_nginx PORT: nginx answering every request with a short body.
start_nginx() {
    NGINX_PORT=$1
    cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen 127.0.0.1:$NGINX_PORT; location / { return 200 "netsight bench\n"; } }
}
CONF
    ${PIN:+taskset -c 1} nginx -c "$tmp/nginx.conf" -p "$tmp"
    sleep 0.5
}

stop_nginx() { [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; }

# rps: requests/s of wrk -t1 -c32 for DUR seconds.
# With PIN=1, nginx runs on CPU 1 and wrk on CPU 0 (less scheduler noise).
rps() { ${PIN:+taskset -c 0} wrk -t1 -c32 -d"${DUR}s" "http://127.0.0.1:$NGINX_PORT/" | awk '/Requests\/sec/ {print $2}'; }
