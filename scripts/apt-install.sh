# Shared by install-system-deps.sh and install-browser.sh (sourced, not run): install Debian
# packages when this machine lets us, never failing.
#
#   apt_install "PACKAGES" NOTE
#
# Installs PACKAGES with apt-get (--no-install-recommends) as root or through password-less sudo.
# Without apt-get or the rights to use it, or when the install fails, it says so, runs the
# caller's function NOTE (what happens without the packages) and returns 0 all the same, so
# `make run`, `make test` and .ci/run go on. The caller defines say().

apt_install() {
    packages=$1
    note=$2
    if ! command -v apt-get >/dev/null 2>&1; then
        say "no apt-get on this system: cannot install $packages"
        $note
        return 0
    fi
    if [ "$(id -u)" = "0" ]; then
        sudo_cmd=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        sudo_cmd="sudo -n"
    else
        say "not root and no password-less sudo: cannot install $packages"
        say "run: sudo apt-get install --no-install-recommends $packages"
        $note
        return 0
    fi
    say "installing $packages (apt-get, --no-install-recommends)"
    if $sudo_cmd apt-get update -qq \
        && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages; then
        say "installed $packages"
    else
        say "WARNING: apt-get install $packages failed (see above); continuing without it"
        $note
    fi
    return 0
}
