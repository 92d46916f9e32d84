#!/bin/sh
# install.sh: install authportal as a systemd service on a NAS or Linux server.
#
#   sudo sh install.sh [--binary PATH] [--prefix DIR] [--url URL] [--no-start]
#   sudo sh install.sh --uninstall [--purge]
#
# Installs the binary to PREFIX/bin, creates the system user `authportal`, the config dir
# /etc/authportal (0750 root:authportal) with authportal.env (0640, generated secrets, written
# on the first install only), the data dir /var/lib/authportal (0700 authportal), and the
# hardened unit /etc/systemd/system/authportal.service; then enables and (re)starts it, waits
# until it answers, and prints the URL and the setup code. Running it again is an upgrade:
# the binary and unit are replaced, the env file and data are kept.
#
# DESTDIR=/some/dir installs into that directory instead of / (no user, no chown, no
# systemctl), for packaging and tests. POSIX sh; keep it `shellcheck` clean.
set -eu

PROG=install.sh
NAME=authportal
CONF_DIR=/etc/authportal
ENV_FILE=$CONF_DIR/authportal.env
DATA_DIR=/var/lib/authportal
UNIT_DIR=/etc/systemd/system
UNIT_FILE=$UNIT_DIR/authportal.service
# The path the unit template names; replaced by PREFIX/bin/authportal.
TEMPLATE_BIN=/usr/local/bin/authportal

usage() {
    cat <<'EOF'
usage: sh install.sh [--binary PATH] [--prefix DIR] [--url URL] [--no-start]
       sh install.sh --uninstall [--purge] [--prefix DIR]

  --binary PATH  the authportal executable to install (default: the build in ./target:
                 target/x86_64-unknown-linux-musl/release/authportal, then
                 target/release/authportal)
  --prefix DIR   install the binary as DIR/bin/authportal (default /usr/local)
  --url URL      APP_BASE_URL written to a new env file: the address people open
                 (default http://<this host's name>:8089)
  --no-start     install and enable, but do not start or restart the service
  --uninstall    stop and disable the service, remove the unit and the binary; keeps
                 /etc/authportal and /var/lib/authportal
  --purge        with --uninstall: also remove /etc/authportal, /var/lib/authportal (the
                 database, secrets and backups) and the authportal user

Environment: DESTDIR=DIR installs into DIR instead of / (no user, ownership or systemctl).
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# ---- arguments ---------------------------------------------------------------------------
binary=
prefix=/usr/local
prefix_given=0
url=
uninstall=0
purge=0
start=1
while [ $# -gt 0 ]; do
    case $1 in
        --binary | --prefix | --url)
            [ $# -ge 2 ] || die "$1 needs a value (see --help)"
            case $1 in
                --binary) binary=$2 ;;
                --prefix) prefix=$2 prefix_given=1 ;;
                --url) url=$2 ;;
            esac
            shift 2
            ;;
        --binary=*) binary=${1#*=} && shift ;;
        --prefix=*) prefix=${1#*=} prefix_given=1 && shift ;;
        --url=*) url=${1#*=} && shift ;;
        --uninstall) uninstall=1 && shift ;;
        --purge) purge=1 && shift ;;
        --no-start) start=0 && shift ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || die "--purge only goes with --uninstall"

case $prefix in
    /*) ;;
    *) die "--prefix must be an absolute path, got '$prefix'" ;;
esac
# The path ends up in the unit's ExecStart= and in sed replacements: keep it plain.
case $prefix in
    *[!A-Za-z0-9/._+-]*) die "--prefix may only contain letters, digits and / . _ + -, got '$prefix'" ;;
esac
while [ "${prefix%/}" != "$prefix" ] && [ "$prefix" != / ]; do prefix=${prefix%/}; done
[ "$prefix" = / ] && prefix=
BIN=$prefix/bin/authportal

if [ -n "$url" ]; then
    case $url in
        http://?* | https://?*) ;;
        *) die "--url must start with http:// or https://, got '$url'" ;;
    esac
    case $url in
        *[!]A-Za-z0-9:/._~%[-]*) die "--url may only contain a scheme, host, port and path, got '$url'" ;;
    esac
fi

DESTDIR=${DESTDIR:-}
if [ -n "$DESTDIR" ]; then
    mkdir -p "$DESTDIR" || die "cannot create DESTDIR $DESTDIR"
    DESTDIR=$(cd "$DESTDIR" && pwd) || die "cannot enter DESTDIR"
    [ "$DESTDIR" != / ] || DESTDIR=
fi
D=$DESTDIR

# real: a root install on this machine (users, ownership); systemd: we may use systemctl.
real=0
if [ -z "$D" ]; then
    [ "$(id -u)" = 0 ] || die "run as root (sudo sh $0 ...), or set DESTDIR=/some/dir to install into a directory"
    real=1
fi
systemd=0
if [ "$real" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemd=1
fi

SRC=$(cd "$(dirname "$0")" && pwd) || die "cannot find the directory of $0"

# ---- helpers -----------------------------------------------------------------------------

# user_exists: the authportal account is in the user database.
user_exists() { id -u "$NAME" >/dev/null 2>&1; }

group_exists() {
    if command -v getent >/dev/null 2>&1; then
        getent group "$NAME" >/dev/null 2>&1
    else
        grep -q "^$NAME:" /etc/group 2>/dev/null
    fi
}

nologin_shell() {
    for s in /usr/sbin/nologin /sbin/nologin /bin/false; do
        if [ -x "$s" ]; then
            say "$s"
            return 0
        fi
    done
    say /bin/false
}

create_user() {
    if [ "$real" = 0 ]; then
        say "skipping the system user '$NAME' (DESTDIR install: no users, no ownership)"
        return 0
    fi
    if user_exists; then
        say "system user '$NAME' exists"
        return 0
    fi
    shell=$(nologin_shell)
    if command -v useradd >/dev/null 2>&1; then
        if group_exists; then
            useradd --system --gid "$NAME" --home-dir "$DATA_DIR" --no-create-home \
                --shell "$shell" --comment "authportal sign-in portal" "$NAME" ||
                die "useradd failed to create the system user '$NAME'"
        else
            useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
                --shell "$shell" --comment "authportal sign-in portal" "$NAME" ||
                die "useradd failed to create the system user '$NAME'"
        fi
    elif command -v adduser >/dev/null 2>&1 && command -v addgroup >/dev/null 2>&1; then
        # BusyBox (Alpine-like systems and some NAS firmware).
        group_exists || addgroup -S "$NAME" || die "addgroup failed to create the group '$NAME'"
        adduser -S -D -H -h "$DATA_DIR" -s "$shell" -G "$NAME" "$NAME" ||
            die "adduser failed to create the system user '$NAME'"
    else
        die "cannot create the system user '$NAME': neither useradd nor adduser is installed"
    fi
    say "created system user '$NAME'"
}

# make_dir PATH MODE OWNER:GROUP
make_dir() {
    mkdir -p "$D$1" || die "cannot create $D$1"
    chmod "$2" "$D$1" || die "cannot set mode $2 on $D$1"
    if [ "$real" = 1 ]; then
        chown "$3" "$D$1" || die "cannot give $D$1 to $3"
    fi
}

# rand_b64 N: N random bytes from /dev/urandom, base64 on one line.
rand_b64() {
    if command -v base64 >/dev/null 2>&1; then
        dd if=/dev/urandom bs="$1" count=1 2>/dev/null | base64 | tr -d '\n'
    elif command -v openssl >/dev/null 2>&1; then
        openssl rand -base64 "$1" | tr -d '\n'
    else
        die "need base64 (coreutils/busybox) or openssl to generate secrets"
    fi
}

# env_value NAME: the last NAME=value in the installed env file, without quotes.
env_value() {
    [ -f "$D$ENV_FILE" ] || return 0
    sed -n "s/^[[:space:]]*$1=//p" "$D$ENV_FILE" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}

# prune DIR: under DESTDIR, remove DIR and its parents while they are empty.
prune() {
    [ -n "$D" ] || return 0
    p=$D$1
    while [ "$p" != "$D" ] && [ -d "$p" ] && rmdir "$p" 2>/dev/null; do
        p=$(dirname "$p")
    done
}

# ---- install -----------------------------------------------------------------------------
find_binary() {
    if [ -n "$binary" ]; then
        [ -f "$binary" ] || die "--binary $binary: no such file"
        [ -x "$binary" ] || die "--binary $binary is not executable"
        return 0
    fi
    for b in "$SRC/target/x86_64-unknown-linux-musl/release/authportal" "$SRC/target/release/authportal"; do
        if [ -x "$b" ]; then
            binary=$b
            return 0
        fi
    done
    die "no authportal binary: pass --binary PATH, or build one first with
    cargo build --release --target x86_64-unknown-linux-musl   (static; needs musl-tools)
    cargo build --release"
}

install_binary() {
    version=$("$binary" version 2>/dev/null) ||
        die "$binary does not run on this machine (wrong architecture or a damaged file?)"
    case $version in
        authportal\ *) ;;
        *) die "$binary does not look like authportal ('$binary version' printed '$version')" ;;
    esac
    mkdir -p "$D$prefix/bin" || die "cannot create $D$prefix/bin"
    if [ -f "$D$BIN" ] && cmp -s "$binary" "$D$BIN"; then
        say "binary $BIN is already $version"
        return 0
    fi
    # Copy next to the target and rename: a running binary is replaced, never overwritten.
    tmp=$D$BIN.new.$$
    cp "$binary" "$tmp" || die "cannot copy $binary to $tmp"
    chmod 0755 "$tmp" || die "cannot make $tmp executable"
    mv -f "$tmp" "$D$BIN" || die "cannot install $D$BIN"
    say "installed $BIN ($version)"
}

write_env_file() {
    if [ -f "$D$ENV_FILE" ]; then
        say "kept the existing $ENV_FILE (never overwritten; secrets unchanged)"
        return 0
    fi
    template=$SRC/systemd/authportal.env.example
    [ -f "$template" ] || die "missing $template (run install.sh from the authportal source tree or release archive)"
    if [ -f "$D$DATA_DIR/secrets.json" ] || [ -f "$D$DATA_DIR/authportal.db" ]; then
        # Data from an earlier run is sealed with the data key in secrets.json (or with a
        # DATA_KEY given some other way): a new DATA_KEY here would lock the portal out of it.
        session_secret=
        data_key=
        secrets_from_data=1
        say "found existing data in $DATA_DIR: the env file gets no new secrets, the ones in $DATA_DIR/secrets.json stay in use"
    else
        session_secret=$(rand_b64 48)
        data_key=$(rand_b64 32)
        if [ "${#session_secret}" -lt 64 ] || [ "${#data_key}" -lt 43 ]; then
            die "could not read random bytes from /dev/urandom"
        fi
        secrets_from_data=0
    fi
    base_url=$url
    [ -n "$base_url" ] || base_url="http://$(uname -n):8089"
    tmp=$D$ENV_FILE.new.$$
    (
        umask 077
        awk -v ss="$session_secret" -v dk="$data_key" -v url="$base_url" '
            /^SESSION_SECRET=$/ { print "SESSION_SECRET=" ss; n++; next }
            /^DATA_KEY=$/ { print "DATA_KEY=" dk; n++; next }
            /^APP_BASE_URL=$/ { print "APP_BASE_URL=" url; n++; next }
            { print }
            END { if (n != 3) exit 3 }
        ' "$template" >"$tmp"
    ) || {
        rm -f "$tmp"
        die "cannot write $tmp from $template (does the template still have SESSION_SECRET=, DATA_KEY= and APP_BASE_URL= lines?)"
    }
    chmod 0640 "$tmp" || die "cannot set mode 0640 on $tmp"
    if [ "$real" = 1 ]; then
        chown "root:$NAME" "$tmp" || die "cannot give $tmp to root:$NAME"
    fi
    mv -f "$tmp" "$D$ENV_FILE" || die "cannot install $D$ENV_FILE"
    if [ "$secrets_from_data" = 1 ]; then
        say "wrote $ENV_FILE (APP_BASE_URL=$base_url)"
    else
        say "wrote $ENV_FILE with a new SESSION_SECRET and DATA_KEY (APP_BASE_URL=$base_url)"
    fi
}

install_unit() {
    template=$SRC/systemd/authportal.service
    [ -f "$template" ] || die "missing $template (run install.sh from the authportal source tree or release archive)"
    mkdir -p "$D$UNIT_DIR" || die "cannot create $D$UNIT_DIR"
    tmp=$D$UNIT_FILE.new.$$
    sed "s#$TEMPLATE_BIN#$BIN#g" "$template" >"$tmp" || {
        rm -f "$tmp"
        die "cannot write $tmp"
    }
    chmod 0644 "$tmp" || die "cannot set mode 0644 on $tmp"
    if [ -f "$D$UNIT_FILE" ] && cmp -s "$tmp" "$D$UNIT_FILE"; then
        rm -f "$tmp"
        say "unit $UNIT_FILE is up to date"
        return 0
    fi
    mv -f "$tmp" "$D$UNIT_FILE" || die "cannot install $D$UNIT_FILE"
    say "installed $UNIT_FILE (ExecStart=$BIN serve)"
}

show_failure() {
    systemctl status --no-pager --lines=0 "$NAME" >&2 || true
    if command -v journalctl >/dev/null 2>&1; then
        journalctl --no-pager --unit="$NAME" --lines=25 >&2 || true
    fi
}

start_service() {
    if [ "$systemd" = 0 ]; then
        if [ -n "$D" ]; then
            say "DESTDIR install: not running systemctl"
        else
            say "systemd is not running on this machine: not enabling or starting the service"
            say "start the portal some other way as user '$NAME' with the variables of $ENV_FILE and AUTHPORTAL_DATA_DIR=$DATA_DIR"
        fi
        return 0
    fi
    systemctl daemon-reload || die "systemctl daemon-reload failed"
    systemctl enable --quiet "$NAME" || die "systemctl enable $NAME failed"
    if [ "$start" = 0 ]; then
        if systemctl is-active --quiet "$NAME"; then
            say "enabled; still running the previous binary (--no-start): systemctl restart $NAME"
        else
            say "enabled, not started (--no-start): systemctl start $NAME"
        fi
        return 0
    fi
    say "starting $NAME (waits until it answers /healthz)..."
    # restart also starts a stopped service, and picks up a new binary or unit on upgrade.
    # It returns once ExecStartPost's health check passes (or fails after ~20 s).
    if ! systemctl restart "$NAME"; then
        show_failure
        die "the service did not start; see the log above (journalctl -u $NAME)"
    fi
    systemctl is-active --quiet "$NAME" || {
        show_failure
        die "the service stopped right after starting; see the log above"
    }
    started=1
}

print_summary() {
    base=$(env_value APP_BASE_URL)
    if [ -z "$base" ]; then
        port=$(env_value LISTEN_ADDR)
        port=${port##*:}
        base="http://$(uname -n):${port:-8089}"
    fi
    say ""
    say "authportal is installed."
    say "  binary:   $BIN"
    say "  config:   $ENV_FILE (edit, then: systemctl restart $NAME)"
    say "  data:     $DATA_DIR (database, secrets.json, signing key, backups)"
    say "  unit:     $UNIT_FILE (local changes: systemctl edit $NAME)"
    say "  logs:     journalctl -u $NAME"
    say ""
    say "Open $base"
    say "  (APP_BASE_URL in $ENV_FILE must be the address people use: sign-in forms check it)"
    if [ "$started" = 1 ]; then
        # As the service user, with the service's environment, so the database and the
        # data key are the ones the running portal uses.
        if code=$(systemd-run --quiet --pipe --wait --collect --service-type=exec \
            -p User="$NAME" -p Group="$NAME" -p UMask=0077 \
            -p EnvironmentFile="$ENV_FILE" -p Environment=AUTHPORTAL_DATA_DIR="$DATA_DIR" \
            "$BIN" setup-code 2>/dev/null) && [ -n "$code" ]; then
            case $code in
                *" "*) say "$code" ;;
                *) say "and enter the setup code: $code" ;;
            esac
        else
            say "The setup code is in the log: journalctl -u $NAME | grep 'setup code'"
        fi
    else
        say "Once it runs, the setup code of the first-run wizard is in the log:"
        say "  journalctl -u $NAME | grep 'setup code'"
    fi
    say ""
    if [ "${secrets_from_data:-0}" = 1 ] || [ -z "$(env_value DATA_KEY)" ]; then
        say "IMPORTANT: keep a copy of data_key from $DATA_DIR/secrets.json off this machine"
    else
        say "IMPORTANT: keep a copy of DATA_KEY from $ENV_FILE off this machine"
    fi
    say "(in a password manager, say): backups are useless without it."
}

do_install() {
    find_binary
    started=0
    [ -f "$SRC/systemd/authportal.service" ] ||
        die "missing $SRC/systemd/authportal.service (run install.sh from the authportal source tree or release archive)"
    say "installing authportal into ${D:-/}"
    create_user
    install_binary
    make_dir "$CONF_DIR" 0750 "root:$NAME"
    make_dir "$DATA_DIR" 0700 "$NAME:$NAME"
    write_env_file
    install_unit
    start_service
    print_summary
}

# ---- uninstall ---------------------------------------------------------------------------
do_uninstall() {
    bin=$BIN
    if [ "$prefix_given" = 0 ] && [ -f "$D$UNIT_FILE" ]; then
        # Installed with some --prefix: the unit knows where the binary went.
        from_unit=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D$UNIT_FILE" | head -n 1)
        case $from_unit in
            /*/authportal) bin=$from_unit ;;
        esac
    fi
    if [ "$systemd" = 1 ]; then
        if [ -f "$D$UNIT_FILE" ] || systemctl cat "$NAME" >/dev/null 2>&1; then
            systemctl disable --now --quiet "$NAME" 2>/dev/null ||
                warn "systemctl disable --now $NAME failed; removing the unit anyway"
        fi
    fi
    if [ -f "$D$UNIT_FILE" ]; then
        rm -f "$D$UNIT_FILE" || die "cannot remove $D$UNIT_FILE"
        say "removed $UNIT_FILE"
    else
        say "no unit at $UNIT_FILE"
    fi
    if [ "$systemd" = 1 ]; then
        systemctl daemon-reload || warn "systemctl daemon-reload failed"
        systemctl reset-failed "$NAME" >/dev/null 2>&1 || true
    fi
    if [ -f "$D$bin" ]; then
        rm -f "$D$bin" || die "cannot remove $D$bin"
        say "removed $bin"
    else
        say "no binary at $bin"
    fi
    prune "$(dirname "$bin")"
    prune "$UNIT_DIR"

    if [ "$purge" = 0 ]; then
        say ""
        say "kept $CONF_DIR (settings, secrets) and $DATA_DIR (database, backups);"
        say "installing again picks them up. Remove them with: sh install.sh --uninstall --purge"
        say "(keep your copy of DATA_KEY: backups are useless without it)"
        return 0
    fi
    if [ -d "$D$UNIT_DIR/$NAME.service.d" ]; then
        rm -rf "$D$UNIT_DIR/$NAME.service.d" || die "cannot remove $D$UNIT_DIR/$NAME.service.d"
        say "removed $UNIT_DIR/$NAME.service.d (local unit changes)"
        prune "$UNIT_DIR"
    fi
    for dir in "$CONF_DIR" "$DATA_DIR"; do
        if [ -e "$D$dir" ]; then
            rm -rf "$D$dir" || die "cannot remove $D$dir"
            say "removed $dir"
        fi
        prune "$(dirname "$dir")"
    done
    if [ "$real" = 1 ]; then
        if user_exists; then
            if command -v userdel >/dev/null 2>&1; then
                userdel "$NAME" || die "userdel $NAME failed"
            else
                deluser "$NAME" || die "deluser $NAME failed"
            fi
            say "removed system user '$NAME'"
        fi
        if group_exists; then
            if command -v groupdel >/dev/null 2>&1; then
                groupdel "$NAME" || warn "groupdel $NAME failed"
            else
                delgroup "$NAME" || warn "delgroup $NAME failed"
            fi
        fi
    fi
    say "authportal and its data are gone"
}

if [ "$uninstall" = 1 ]; then
    do_uninstall
else
    do_install
fi
