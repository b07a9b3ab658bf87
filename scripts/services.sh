#!/usr/bin/env bash
# scripts/services.sh — make this machine ready to build, run and test queryd:
#   - PostgreSQL on 127.0.0.1:5432 with role queryd (password queryd, LOGIN
#     CREATEDB) owning the databases queryd, queryd_test and queryd_demo;
#   - Redis on 127.0.0.1:6379, and the redis-server binary (tests start
#     private instances of their own);
#   - MariaDB on 127.0.0.1:3306 with database queryd_test and user queryd
#     (password queryd, at localhost and 127.0.0.1, all privileges on it),
#     for the mysql driver's tests;
#   - Go on PATH.
# It reuses whatever already runs, installs missing Debian packages (apt-get)
# and starts stopped servers, printing one line for each thing it checked or
# did. Safe to run again and again, and from two shells at once (a lock file
# makes the second wait). Runs as root, or as a user with sudo. Exits non-zero
# with a message saying what is wrong when it cannot finish.
set -euo pipefail

PG_HOST=127.0.0.1
REDIS_HOST=127.0.0.1
# The ports can be moved, to test this script beside servers that already run
# on the usual ones; queryd's defaults and the other scripts assume these.
PG_PORT=${QUERYD_SERVICES_PG_PORT:-5432}
REDIS_PORT=${QUERYD_SERVICES_REDIS_PORT:-6379}
MYSQL_PORT=${QUERYD_SERVICES_MYSQL_PORT:-3306}
REDIS_LOG=/var/log/redis/ci.log
[[ $REDIS_PORT == 6379 ]] || REDIS_LOG=/var/log/redis/ci-$REDIS_PORT.log
MYSQL_HOST=127.0.0.1
MYSQL_DATABASE=queryd_test
# Where a MariaDB this script starts keeps its files: Debian's own on 3306,
# a private instance beside it on any other port.
MYSQL_DATADIR=/var/lib/mysql
MYSQL_SOCKET=/run/mysqld/mysqld.sock
MYSQL_PIDFILE=/run/mysqld/mysqld.pid
MYSQL_LOG=/var/log/mysql/error.log
if [[ $MYSQL_PORT != 3306 ]]; then
    MYSQL_DATADIR=/var/lib/mysql-queryd-$MYSQL_PORT
    MYSQL_SOCKET=/run/mysqld/mysqld-$MYSQL_PORT.sock
    MYSQL_PIDFILE=/run/mysqld/mysqld-$MYSQL_PORT.pid
    MYSQL_LOG=/var/log/mysql/queryd-$MYSQL_PORT.log
fi
ROLE=queryd
ROLE_PASSWORD=queryd # the documented local-development password, not a secret
DATABASES=(queryd queryd_test queryd_demo)

say() { printf '%s\n' "$*"; }
die() {
    printf 'services: error: %s\n' "$*" >&2
    exit 1
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# runuser, and the servers' tools, live in sbin, which a minimal PATH lacks.
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH="$PATH:/usr/sbin:/sbin" ;;
esac

# One run at a time per user; a second run waits here, then finds everything
# in place and reuses it.
lock="${TMPDIR:-/tmp}/queryd-services.$(id -u).lock"
if command -v flock >/dev/null && { exec 9>>"$lock"; } 2>/dev/null; then
    if ! flock -n 9; then
        say "services: another services.sh is running; waiting for it (lock $lock)"
        flock -w 600 9 || die "waited 10 minutes for the other services.sh (lock $lock)"
    fi
fi

systemd_running() { [[ -d /run/systemd/system ]]; }

# as_root runs a command as root: directly when we are root, else with sudo.
# It closes the lock's descriptor, so that a server it starts does not hold
# the lock for the rest of its life.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@" 9>&-
    elif command -v sudo >/dev/null; then
        sudo "$@" 9>&-
    else
        die "need root to run '$*': run this script as root, or install sudo"
    fi
}

apt_updated=0
# apt_install installs Debian packages, quietly; their log is shown on failure.
apt_install() {
    command -v apt-get >/dev/null ||
        die "apt-get not found: install $* with this system's package manager, then run this again"
    local log
    log=$(mktemp)
    if ((!apt_updated)); then
        say "apt: apt-get update"
        if ! as_root apt-get update -q >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            rm -f "$log"
            die "apt-get update failed (output above)"
        fi
        apt_updated=1
    fi
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o DPkg::Lock::Timeout=120 --no-install-recommends "$@" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        die "apt-get install $* failed (output above)"
    fi
    rm -f "$log"
    say "apt: installed $*"
}

# ---------------------------------------------------------------- Go

ensure_go() {
    if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
        export PATH="$PATH:/usr/local/go/bin"
    fi
    if ! command -v go >/dev/null; then
        die "go: not found on PATH nor in /usr/local/go/bin: install Go $(awk '$1 == "go" {print $2; exit}' go.mod 2>/dev/null) or newer"
    fi
    say "go: $(go env GOVERSION) at $(command -v go)"
}

# ---------------------------------------------------------------- PostgreSQL

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3; }

wait_pg_ready() {
    local i
    for ((i = 0; i < 30; i++)); do
        pg_ready && return 0
        sleep 1
    done
    return 1
}

ensure_pg_client() {
    if command -v psql >/dev/null && command -v pg_isready >/dev/null; then
        say "postgres: client installed ($(psql --version))"
    else
        say "postgres: psql/pg_isready not installed → apt-get install postgresql-client"
        apt_install postgresql-client
    fi
}

newest_pg_version() {
    local d
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x $d ]] || continue
        d=${d#/usr/lib/postgresql/}
        printf '%s\n' "${d%%/*}"
    done | sort -V | tail -n 1
}

ensure_pg_server() {
    if pg_ready; then
        say "postgres: running on $PG_HOST:$PG_PORT (reused)"
        return
    fi
    if [[ -z $(newest_pg_version) ]]; then
        say "postgres: server not installed → apt-get install postgresql"
        apt_install postgresql
        # The package creates a cluster and may have started it already.
        if pg_ready; then
            say "postgres: running on $PG_HOST:$PG_PORT (started by the package)"
            return
        fi
    fi
    command -v pg_lsclusters >/dev/null ||
        die "postgres: nothing answers on $PG_HOST:$PG_PORT and Debian's cluster tools (postgresql-common) are missing: start a PostgreSQL server on $PG_HOST:$PG_PORT yourself"

    local ver="" name="" status=""
    read -r ver name status < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p {print $1, $2, $4; exit}') || true
    if [[ -z $ver ]]; then
        ver=$(newest_pg_version)
        name=main
        if pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {f = 1} END {exit !f}'; then
            name=queryd # main exists on another port; leave it alone
        fi
        say "postgres: no cluster on port $PG_PORT → pg_createcluster $ver $name --port $PG_PORT"
        local log
        log=$(mktemp)
        if ! as_root pg_createcluster "$ver" "$name" --port "$PG_PORT" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            rm -f "$log"
            die "postgres: pg_createcluster $ver $name failed (output above)"
        fi
        rm -f "$log"
        status=down
    fi

    if [[ $status != online* ]]; then
        local how=(pg_ctlcluster "$ver" "$name" start)
        systemd_running || how=(pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start)
        say "postgres: cluster $ver/$name is $status → ${how[*]}"
        if ! as_root "${how[@]}"; then
            as_root tail -n 20 "/var/log/postgresql/postgresql-$ver-$name.log" >&2 || true
            die "postgres: could not start cluster $ver/$name (its log is above)"
        fi
    fi
    wait_pg_ready ||
        die "postgres: cluster $ver/$name is online but nothing accepts connections on $PG_HOST:$PG_PORT after 30 s: check listen_addresses in /etc/postgresql/$ver/$name/postgresql.conf"
    say "postgres: running on $PG_HOST:$PG_PORT (cluster $ver/$name)"
}

# PGSUPER: the psql command line that runs SQL as the postgres superuser.
PGSUPER=()
pick_superuser() {
    local -a c=()
    if id postgres >/dev/null 2>&1; then
        if [[ $EUID -eq 0 ]] && command -v runuser >/dev/null; then
            c=(runuser -u postgres -- psql -X -p "$PG_PORT")
        elif [[ $EUID -ne 0 ]] && command -v sudo >/dev/null; then
            c=(sudo -u postgres psql -X -p "$PG_PORT")
        fi
        if ((${#c[@]})) && (cd / && "${c[@]}" -d postgres -Atqc 'SELECT 1') >/dev/null 2>&1; then
            PGSUPER=("${c[@]}")
            say "postgres: SQL as superuser through '${c[*]:0:3} psql' on the local socket"
            return
        fi
    fi
    c=(psql -X -w -h "$PG_HOST" -p "$PG_PORT" -U postgres)
    if "${c[@]}" -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
        PGSUPER=("${c[@]}")
        say "postgres: SQL as superuser through 'psql -h $PG_HOST -U postgres'"
        return
    fi
    die "postgres: cannot run SQL as the postgres superuser: tried 'runuser -u postgres'/'sudo -u postgres' psql on the local socket and 'psql -h $PG_HOST -U postgres' (set PGPASSWORD if that one needs a password)"
}

# super_sql runs SQL as the superuser in database postgres; output is unaligned.
super_sql() { (cd / && "${PGSUPER[@]}" -d postgres -v ON_ERROR_STOP=1 -Atq "$@"); }

ensure_role() {
    local exists
    exists=$(super_sql -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")
    if [[ $exists != 1 ]]; then
        # The exception handler makes a concurrent creation harmless.
        super_sql -c "DO \$\$ BEGIN CREATE ROLE $ROLE; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
        say "postgres: role $ROLE missing → created"
    fi
    # Re-applied every time: cheap, and it repairs a role whose password or
    # attributes were changed. The password is the fixed development one.
    super_sql -c "ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$ROLE_PASSWORD'" >/dev/null
    if [[ $exists == 1 ]]; then
        say "postgres: role $ROLE exists (reused; LOGIN CREATEDB and its password re-applied)"
    else
        say "postgres: role $ROLE given LOGIN CREATEDB and its password"
    fi
}

db_owner() { super_sql -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$1'"; }

ensure_database() {
    local db=$1 owner err
    owner=$(db_owner "$db")
    if [[ -z $owner ]]; then
        if err=$(super_sql -c "CREATE DATABASE $db OWNER $ROLE" 2>&1); then
            say "postgres: database $db missing → created (owner $ROLE)"
            return
        fi
        owner=$(db_owner "$db")
        [[ -n $owner ]] || die "postgres: CREATE DATABASE $db failed: $err"
        say "postgres: database $db was created meanwhile by someone else (reused)"
    fi
    if [[ $owner != "$ROLE" ]]; then
        super_sql -c "ALTER DATABASE $db OWNER TO $ROLE" >/dev/null
        say "postgres: database $db was owned by $owner → owner set to $ROLE"
    else
        say "postgres: database $db exists, owner $ROLE (reused)"
    fi
}

# check_login proves that the role logs in with its password over TCP, the
# way queryd and the tests connect.
check_login() {
    local db err
    for db in "${DATABASES[@]}"; do
        if ! err=$(PGPASSWORD=$ROLE_PASSWORD psql -X -w -h "$PG_HOST" -p "$PG_PORT" -U "$ROLE" -d "$db" -Atqc 'SELECT 1' 2>&1); then
            die "postgres: role $ROLE cannot log in to database $db on $PG_HOST:$PG_PORT: $err (pg_hba.conf must allow host connections from $PG_HOST with scram-sha-256, md5 or trust)"
        fi
    done
    say "postgres: role $ROLE logs in to ${DATABASES[*]} on $PG_HOST:$PG_PORT (checked)"
}

# ---------------------------------------------------------------- Redis

redis_ping() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null || true; }

ensure_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        say "redis: installed ($(redis-server --version | awk '{print $3}'))"
    else
        say "redis: redis-server/redis-cli not installed → apt-get install redis-server redis-tools"
        apt_install redis-server redis-tools
    fi

    local reply
    reply=$(redis_ping)
    if [[ $reply == PONG ]]; then
        say "redis: running on $REDIS_HOST:$REDIS_PORT (reused)"
        return
    fi
    if [[ -n $reply && $reply != LOADING* ]]; then
        die "redis: something on $REDIS_HOST:$REDIS_PORT answers PING with '$reply', not PONG (a password-protected Redis?): stop it or make it answer"
    fi

    if [[ -z $reply ]]; then
        if systemd_running; then
            say "redis: not running → systemctl start redis-server"
            as_root systemctl start redis-server || die "redis: systemctl start redis-server failed"
        else
            say "redis: not running → redis-server --daemonize yes on $REDIS_HOST:$REDIS_PORT (no persistence, log $REDIS_LOG)"
            as_root mkdir -p /var/lib/redis /var/log/redis
            as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
                --save "" --appendonly no --dir /var/lib/redis --logfile "$REDIS_LOG" ||
                die "redis: redis-server did not start"
        fi
    fi
    local i
    for ((i = 0; i < 30; i++)); do
        if [[ $(redis_ping) == PONG ]]; then
            say "redis: running on $REDIS_HOST:$REDIS_PORT (started)"
            return
        fi
        sleep 1
    done
    as_root tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
    die "redis: no PONG from $REDIS_HOST:$REDIS_PORT 30 s after starting it (log: $REDIS_LOG, or journalctl -u redis-server)"
}

# ---------------------------------------------------------------- MariaDB

MYSQL_CLI=
MYSQL_ADMIN=
MYSQLD=

# mysql_pick finds the client, admin tool and server binaries under their
# MariaDB names, or the older mysql ones.
mysql_pick() {
    MYSQL_CLI=$(command -v mariadb || command -v mysql || true)
    MYSQL_ADMIN=$(command -v mariadb-admin || command -v mysqladmin || true)
    MYSQLD=$(command -v mariadbd || command -v mysqld || true)
}

# mysql_ping succeeds when a server answers on MYSQL_HOST:MYSQL_PORT, even one
# that refuses the login it tries (mysqladmin ping succeeds on "Access
# denied", but not when the server refuses the client's host, as a fresh
# data directory without users for 127.0.0.1 does).
mysql_ping() {
    local out
    out=$("$MYSQL_ADMIN" --no-defaults --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" \
        --connect-timeout=3 -u queryd_ping ping 2>&1) && return 0
    [[ $out == *"is not allowed to connect"* ]]
}

ensure_mysql_server() {
    mysql_pick
    if [[ -n $MYSQL_CLI && -n $MYSQL_ADMIN && -n $MYSQLD ]]; then
        say "mariadb: installed ($("$MYSQLD" --version | awk '{print $3}'))"
    else
        say "mariadb: server or client not installed → apt-get install mariadb-server mariadb-client"
        apt_install mariadb-server mariadb-client
        mysql_pick
        [[ -n $MYSQL_CLI && -n $MYSQL_ADMIN && -n $MYSQLD ]] ||
            die "mariadb: installed mariadb-server, but mariadb/mariadb-admin/mariadbd are still not on PATH"
    fi

    if mysql_ping; then
        say "mariadb: running on $MYSQL_HOST:$MYSQL_PORT (reused)"
        return
    fi
    if [[ $MYSQL_PORT == 3306 ]] && systemd_running; then
        say "mariadb: not running → systemctl start mariadb"
        as_root systemctl start mariadb || die "mariadb: systemctl start mariadb failed (journalctl -u mariadb)"
    else
        as_root install -d -o mysql -g mysql -m 755 /run/mysqld /var/log/mysql
        if ! as_root test -d "$MYSQL_DATADIR/mysql"; then
            say "mariadb: no system tables in $MYSQL_DATADIR → mariadb-install-db"
            local log
            log=$(mktemp)
            if ! as_root "$(command -v mariadb-install-db || command -v mysql_install_db)" --user=mysql \
                --datadir="$MYSQL_DATADIR" --auth-root-authentication-method=socket >"$log" 2>&1; then
                tail -n 20 "$log" >&2
                rm -f "$log"
                die "mariadb: mariadb-install-db --datadir=$MYSQL_DATADIR failed (output above)"
            fi
            rm -f "$log"
        fi
        say "mariadb: not running → start-stop-daemon --start $MYSQLD on $MYSQL_HOST:$MYSQL_PORT (data $MYSQL_DATADIR, log $MYSQL_LOG)"
        as_root start-stop-daemon --start --quiet --oknodo --background --pidfile "$MYSQL_PIDFILE" --exec "$MYSQLD" -- \
            --user=mysql --datadir="$MYSQL_DATADIR" --port="$MYSQL_PORT" --bind-address="$MYSQL_HOST" \
            --socket="$MYSQL_SOCKET" --pid-file="$MYSQL_PIDFILE" --log-error="$MYSQL_LOG" ||
            die "mariadb: start-stop-daemon could not start $MYSQLD"
    fi
    local i
    for ((i = 0; i < 30; i++)); do
        if mysql_ping; then
            say "mariadb: running on $MYSQL_HOST:$MYSQL_PORT (started)"
            return
        fi
        sleep 1
    done
    as_root tail -n 20 "$MYSQL_LOG" >&2 2>/dev/null || true
    die "mariadb: nothing answers on $MYSQL_HOST:$MYSQL_PORT 30 s after starting it (log: $MYSQL_LOG)"
}

# MYSQLSUPER: the client command line that runs SQL as the MariaDB root user.
MYSQLSUPER=()
pick_mysql_superuser() {
    local -a c=()
    local sock
    # root through unix_socket authentication, Debian's default. The socket
    # must belong to the server on MYSQL_PORT.
    for sock in "$MYSQL_SOCKET" /run/mysqld/mysqld.sock; do
        [[ -S $sock ]] || continue
        if [[ $EUID -eq 0 ]]; then
            c=("$MYSQL_CLI" --no-defaults --socket="$sock" -u root)
        elif command -v sudo >/dev/null; then
            c=(sudo "$MYSQL_CLI" --no-defaults --socket="$sock" -u root)
        else
            continue
        fi
        if [[ $("${c[@]}" -N -B -e 'SELECT @@port' 2>/dev/null) == "$MYSQL_PORT" ]]; then
            MYSQLSUPER=("${c[@]}")
            say "mariadb: SQL as root through the socket $sock"
            return
        fi
    done
    c=("$MYSQL_CLI" --no-defaults --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root)
    if "${c[@]}" -N -B -e 'SELECT 1' >/dev/null 2>&1; then
        MYSQLSUPER=("${c[@]}")
        say "mariadb: SQL as root through $MYSQL_HOST:$MYSQL_PORT without a password"
        return
    fi
    die "mariadb: cannot run SQL as root: tried the socket ($MYSQL_SOCKET) as the OS root user and root without a password on $MYSQL_HOST:$MYSQL_PORT"
}

# mysql_super runs SQL as root; output is tab-separated without headers.
mysql_super() { "${MYSQLSUPER[@]}" -N -B -e "$1"; }

ensure_mysql_database() {
    if [[ -n $(mysql_super "SHOW DATABASES LIKE '$MYSQL_DATABASE'") ]]; then
        say "mariadb: database $MYSQL_DATABASE exists (reused)"
    else
        mysql_super "CREATE DATABASE IF NOT EXISTS $MYSQL_DATABASE"
        say "mariadb: database $MYSQL_DATABASE missing → created"
    fi
}

ensure_mysql_user() {
    local host who
    for host in localhost "$MYSQL_HOST"; do
        who="'$ROLE'@'$host'"
        if [[ -n $(mysql_super "SELECT 1 FROM mysql.user WHERE User = '$ROLE' AND Host = '$host'") ]]; then
            # Re-applied every time, as for PostgreSQL: cheap, and it repairs a
            # changed password. The password is the fixed development one.
            mysql_super "ALTER USER $who IDENTIFIED BY '$ROLE_PASSWORD'"
            say "mariadb: user $who exists (reused; its password re-applied)"
        else
            mysql_super "CREATE USER IF NOT EXISTS $who IDENTIFIED BY '$ROLE_PASSWORD'"
            say "mariadb: user $who missing → created"
        fi
        mysql_super "GRANT ALL PRIVILEGES ON $MYSQL_DATABASE.* TO $who"
        say "mariadb: user $who granted ALL PRIVILEGES on $MYSQL_DATABASE"
    done
}

# check_mysql_login proves that the user logs in with its password over TCP,
# the way the tests connect.
check_mysql_login() {
    local err
    if ! err=$(MYSQL_PWD=$ROLE_PASSWORD "$MYSQL_CLI" --no-defaults --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" \
        -u "$ROLE" -N -B -e 'SELECT 1' "$MYSQL_DATABASE" 2>&1); then
        die "mariadb: user $ROLE cannot log in to database $MYSQL_DATABASE on $MYSQL_HOST:$MYSQL_PORT: $err"
    fi
    say "mariadb: user $ROLE logs in to $MYSQL_DATABASE on $MYSQL_HOST:$MYSQL_PORT (checked)"
}

# ---------------------------------------------------------------- main

ensure_go
ensure_pg_client
ensure_pg_server
pick_superuser
ensure_role
for db in "${DATABASES[@]}"; do
    ensure_database "$db"
done
check_login
ensure_redis
ensure_mysql_server
pick_mysql_superuser
ensure_mysql_database
ensure_mysql_user
check_mysql_login
say "services: ready"
