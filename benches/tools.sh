# Shared by the load scripts that need system tools (sourced first, before anything starts).

# need_tools TOOL…: exits naming every missing tool and the Debian command that installs them.
need_tools() {
    local missing=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        echo "$(basename "$0"): missing ${missing[*]}; install them (Debian: apt-get install -y ${missing[*]/perf/linux-perf})" >&2
        exit 1
    fi
}

# release_bin: BIN as given, or a fresh release build of plexgate.
release_bin() {
    if [[ -z ${BIN:-} ]]; then
        cargo build --release --quiet
        BIN=target/release/plexgate
    fi
}
