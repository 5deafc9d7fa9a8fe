# shellcheck shell=bash
# scripts/lib/postgres.sh: a private PostgreSQL cluster for tenantd's tests and
# development, reachable from the host and from Docker containers.
#
# Source it from bash (it sets no shell options of its own) and call:
#
#   source "$(dirname "$0")/lib/postgres.sh"
#   pg_ensure_installed                 # finds or apt-installs the server; puts its bin dir first in PATH
#   pg_start_private DIR PORT [--fast]  # initdb if needed, start if not running, export DATABASE_URL
#   pg_psql DIR [psql args...]          # psql as the superuser over the unix socket (database tenantd)
#   pg_url_for_host DIR HOST            # the DATABASE_URL with HOST in place of 127.0.0.1
#   pg_stop_private DIR                 # stop it (idempotent)
#
# Layout of DIR (owned by the user that runs the server):
#   DIR/data/          the cluster (PGDATA)
#   DIR/run/           the unix socket directory (mode 0700)
#   DIR/.password      the superuser's password (mode 0600), generated once
#   DIR/postgres.log   the server log
#
# Authentication: superuser `tenantd`; trust on the unix socket (only root and
# the server's user can enter DIR/run); scram-sha-256 on TCP from 127.0.0.1,
# ::1 and the private ranges Docker gives bridge networks (10.0.0.0/8,
# 172.16.0.0/12, 192.168.0.0/16). listen_addresses is '*' because containers
# reach the host at the gateway IP of their network, and tenantd creates
# networks after the server started; pg_hba.conf rejects everything else.
#
# Containers reach this server at their network's gateway IP:
#   docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' NETWORK
# (or `--add-host host.docker.internal:host-gateway`, which maps that name to
# docker0's address; the server listens there too).
#
# The server cannot run as root: as root, it runs as the `postgres` system
# user (created if missing). `--fast` turns off fsync, synchronous_commit and
# full_page_writes: for throwaway test clusters only.

# The superuser and database that pg_start_private creates.
PG_SUPERUSER=${PG_SUPERUSER:-tenantd}
PG_DATABASE=${PG_DATABASE:-tenantd}

_pg_say() { printf 'postgres: %s\n' "$*" >&2; }
_pg_die() { printf 'postgres: error: %s\n' "$*" >&2; return 1; }

# Runs a command as the user that owns the server: `postgres` when we are root.
_pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Prints the bin directory holding the newest complete set of server
# binaries (pg_ctl, initdb, postgres, pg_dump), from PATH or
# /usr/lib/postgresql/*/bin; prints nothing if there is none.
_pg_find_bindir() {
    local candidates=() dir ver
    if command -v pg_ctl >/dev/null 2>&1; then
        candidates+=("$(dirname "$(readlink -f "$(command -v pg_ctl)")")")
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -d $dir ]] && candidates+=("$dir")
    done
    for dir in "${candidates[@]}"; do
        [[ -x $dir/pg_ctl && -x $dir/initdb && -x $dir/postgres && -x $dir/pg_dump ]] || continue
        # "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
        ver=$("$dir/pg_ctl" --version 2>/dev/null | awk '{print $3}') || continue
        printf '%s %s\n' "$ver" "$dir"
    done | sort -V | tail -n 1 | cut -d' ' -f2-
}

# pg_ensure_installed: makes the PostgreSQL server binaries available,
# installing Debian's `postgresql` package when none are found. Exports
# PG_BINDIR and puts it first in PATH (so pg_dump, psql and pg_isready match
# the server's version).
pg_ensure_installed() {
    local bindir
    bindir=$(_pg_find_bindir)
    if [[ -z $bindir ]]; then
        _pg_say "no PostgreSQL server binaries found; installing Debian's postgresql package"
        command -v apt-get >/dev/null 2>&1 || _pg_die "apt-get not found: install PostgreSQL (pg_ctl, initdb, postgres, pg_dump) by hand" || return 1
        [[ $EUID -eq 0 ]] || _pg_die "installing postgresql needs root (apt-get)" || return 1
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || _pg_die "apt-get update failed" || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 || _pg_die "apt-get install postgresql failed" || return 1
        bindir=$(_pg_find_bindir)
        [[ -n $bindir ]] || _pg_die "postgresql installed but no server binaries found under /usr/lib/postgresql/*/bin" || return 1
        _pg_say "installed $("$bindir/pg_ctl" --version) in $bindir"
    else
        _pg_say "using $("$bindir/pg_ctl" --version) from $bindir"
    fi
    export PG_BINDIR=$bindir
    case ":$PATH:" in
        *":$bindir:"*) ;;
        *) export PATH="$bindir:$PATH" ;;
    esac
}

# Creates the `postgres` system user when we are root and it is missing.
_pg_ensure_owner_user() {
    [[ $EUID -eq 0 ]] || return 0
    id -u postgres >/dev/null 2>&1 && return 0
    _pg_say "creating system user postgres to run the server (root cannot)"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /usr/sbin/nologin postgres || _pg_die "useradd postgres failed"
}

# Writes the configuration that pg_start_private owns; done on every start,
# so a new PORT or --fast takes effect on the next start.
_pg_write_config() {
    local dir=$1 port=$2 fast=$3
    local data=$dir/data
    {
        echo "# Written by scripts/lib/postgres.sh on every start; edits are lost."
        echo "port = $port"
        echo "listen_addresses = '*'          # containers come in through their network's gateway"
        echo "unix_socket_directories = '$dir/run'"
        echo "max_connections = 300           # one pool for tenantd plus one connection per tenant request"
        echo "password_encryption = 'scram-sha-256'"
        echo "shared_buffers = '128MB'"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        echo "log_connections = off"
        if [[ $fast == 1 ]]; then
            echo "# --fast: a throwaway test cluster; a crash may lose or corrupt data."
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } | _pg_as_owner tee "$data/tenantd.conf" >/dev/null
    if ! grep -qx "include 'tenantd.conf'" "$data/postgresql.conf"; then
        echo "include 'tenantd.conf'" | _pg_as_owner tee -a "$data/postgresql.conf" >/dev/null
    fi
    {
        echo "# Written by scripts/lib/postgres.sh on every start; edits are lost."
        echo "# TYPE  DATABASE  USER  ADDRESS          METHOD"
        echo "local   all       all                    trust"
        echo "host    all       all   127.0.0.1/32     scram-sha-256"
        echo "host    all       all   ::1/128          scram-sha-256"
        echo "# Docker bridge networks (containers reach the host at their gateway IP)."
        echo "host    all       all   172.16.0.0/12    scram-sha-256"
        echo "host    all       all   192.168.0.0/16   scram-sha-256"
        echo "host    all       all   10.0.0.0/8       scram-sha-256"
    } | _pg_as_owner tee "$data/pg_hba.conf" >/dev/null
}

# pg_start_private DIR PORT [--fast]: starts (creating it first if absent) a
# private cluster in DIR listening on PORT, and exports DATABASE_URL for its
# database `tenantd` as superuser `tenantd`. Reuses a server already running
# from DIR. Also exports PG_DIR, PG_PORT and PG_PASSWORD.
pg_start_private() {
    local dir=${1:?usage: pg_start_private DIR PORT [--fast]} port=${2:?usage: pg_start_private DIR PORT [--fast]}
    local fast=0
    [[ ${3:-} == --fast ]] && fast=1
    [[ $port =~ ^[0-9]+$ ]] || _pg_die "PORT must be a number, got '$port'" || return 1
    [[ -n ${PG_BINDIR:-} ]] || pg_ensure_installed || return 1
    _pg_ensure_owner_user || return 1

    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd -P)
    # A unix socket path is limited to 107 bytes: DIR/run/.s.PGSQL.PORT.
    (( ${#dir} <= 80 )) || _pg_die "DIR '$dir' is too long for a unix socket path; use a shorter one" || return 1
    local owner=postgres
    [[ $EUID -eq 0 ]] || owner=$(id -un)
    chown "$owner:" "$dir" || return 1
    chmod 0700 "$dir" || return 1
    _pg_as_owner test -x "$dir" ||
        _pg_die "user $owner cannot enter '$dir': every parent directory must be searchable by it" || return 1

    local data=$dir/data pwfile=$dir/.password log=$dir/postgres.log
    if [[ ! -f $data/PG_VERSION ]]; then
        if [[ -e $data ]] && [[ -n $(ls -A "$data" 2>/dev/null) ]]; then
            _pg_die "'$data' exists but holds no cluster; remove it or choose another DIR"
            return 1
        fi
        if [[ ! -s $pwfile ]]; then
            # 128 random bits in hex: needs no escaping in a URL or in SQL.
            (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$pwfile") ||
                _pg_die "cannot write '$pwfile'" || return 1
        fi
        chown "$owner:" "$pwfile" && chmod 0600 "$pwfile" || return 1
        _pg_say "creating cluster in $data (superuser $PG_SUPERUSER)"
        _pg_as_owner "$PG_BINDIR/initdb" --pgdata="$data" --username="$PG_SUPERUSER" \
            --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; _pg_die "initdb failed (log above)"; return 1; }
    fi
    [[ -s $pwfile ]] || _pg_die "'$pwfile' is missing; remove '$dir' to start afresh" || return 1
    local password
    password=$(<"$pwfile")
    _pg_as_owner mkdir -p "$dir/run" && _pg_as_owner chmod 0700 "$dir/run" || return 1

    if _pg_as_owner "$PG_BINDIR/pg_ctl" --pgdata="$data" status >/dev/null 2>&1; then
        # postmaster.pid's 4th line is the port the running server listens on.
        local running_port
        running_port=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null)
        if [[ $running_port != "$port" ]]; then
            _pg_die "the cluster in $data is already running on port $running_port, not $port; stop it with pg_stop_private $dir"
            return 1
        fi
        _pg_say "reusing the server already running from $data on port $port"
    else
        _pg_write_config "$dir" "$port" "$fast" || return 1
        _pg_say "starting server on port $port (log: $log)$([[ $fast == 1 ]] && echo ', fsync off')"
        _pg_as_owner touch "$log" || return 1
        if ! _pg_as_owner "$PG_BINDIR/pg_ctl" --pgdata="$data" --log="$log" --wait --timeout=60 start >/dev/null; then
            tail -n 20 "$log" >&2
            _pg_die "server did not start (last lines of $log above)"
            return 1
        fi
    fi

    local i
    for ((i = 0; i < 60; i++)); do
        "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres && break
        sleep 0.5
    done
    "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres ||
        _pg_die "server is not accepting TCP connections on 127.0.0.1:$port" || return 1

    # Keep the password file authoritative even if someone changed the role.
    _pg_psql_db "$dir" postgres -q -c "ALTER ROLE \"$PG_SUPERUSER\" PASSWORD '$password'" >/dev/null || return 1
    if [[ $(_pg_psql_db "$dir" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'") != 1 ]]; then
        _pg_say "creating database $PG_DATABASE"
        _pg_psql_db "$dir" postgres -q -c "CREATE DATABASE \"$PG_DATABASE\" OWNER \"$PG_SUPERUSER\"" || return 1
    fi

    export PG_DIR=$dir PG_PORT=$port PG_PASSWORD=$password
    export DATABASE_URL="postgres://$PG_SUPERUSER:$password@127.0.0.1:$port/$PG_DATABASE"
    _pg_say "ready: DATABASE_URL=$DATABASE_URL"
}

# Runs psql as the superuser over DIR's unix socket on database DB.
_pg_psql_db() {
    local dir=$1 db=$2
    shift 2
    local port
    port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$dir/data/tenantd.conf" 2>/dev/null)
    [[ -n $port ]] || _pg_die "no port configured in $dir/data/tenantd.conf: start the cluster first" || return 1
    "${PG_BINDIR:-$(_pg_find_bindir)}/psql" -X -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" \
        -U "$PG_SUPERUSER" -d "$db" "$@"
}

# pg_psql DIR [psql args...]: psql as the superuser on database `tenantd`
# over DIR's unix socket (no password needed).
pg_psql() {
    local dir=${1:?usage: pg_psql DIR [psql args...]}
    shift
    _pg_psql_db "$dir" "$PG_DATABASE" "$@"
}

# pg_url_for_host DIR HOST: prints DIR's DATABASE_URL with HOST (e.g. a
# Docker network's gateway IP) in place of 127.0.0.1.
pg_url_for_host() {
    local dir=${1:?usage: pg_url_for_host DIR HOST} host=${2:?usage: pg_url_for_host DIR HOST}
    local port password
    port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$dir/data/tenantd.conf" 2>/dev/null)
    password=$(<"$dir/.password") || return 1
    printf 'postgres://%s:%s@%s:%s/%s\n' "$PG_SUPERUSER" "$password" "$host" "$port" "$PG_DATABASE"
}

# pg_stop_private DIR: stops the server running from DIR, if any (fast
# shutdown: open connections are ended). The cluster stays for the next start.
pg_stop_private() {
    local dir=${1:?usage: pg_stop_private DIR}
    local bindir=${PG_BINDIR:-$(_pg_find_bindir)}
    [[ -n $bindir ]] || _pg_die "no PostgreSQL binaries found" || return 1
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        _pg_say "no cluster in $dir; nothing to stop"
        return 0
    fi
    if _pg_as_owner "$bindir/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1; then
        _pg_say "stopping server in $dir/data"
        _pg_as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --timeout=60 stop >/dev/null
    else
        _pg_say "server in $dir/data is not running"
    fi
}
