#!/bin/sh
# Install the Debian packages the open drum-loop corpus is rendered from:
#   hydrogen-drumkits  ~14 multi-sampled kits (GPL-2, CC-BY-SA, CC-BY, CC0)
#   hydrogen-data      GMRockKit, TR808EmulationKit and the demo songs' patterns
#   sonic-pi-samples   CC0 drum one-shots (one more kit)
# --no-install-recommends keeps out the Hydrogen application and Qt, which
# hydrogen-data recommends and the corpus does not need.
#
# Idempotent and never fatal: when the kits are present it returns at once;
# without apt-get or the rights to use it (root or password-less sudo), or if
# the install fails, it says what `beatgan render-loops` will use instead and
# exits 0, so `make run`, `make test` and .ci/run go on.
#
# Usage: scripts/install-system-deps.sh [--check]
#   --check   only report what is installed; exit 1 if something is missing.
# Set BEATGAN_SKIP_SYSTEM_DEPS=1 to skip installing.

set -u

. "$(dirname "$0")/apt-install.sh"

PACKAGES="hydrogen-drumkits hydrogen-data sonic-pi-samples"
SHARE=${BEATGAN_SYSTEM_SHARE:-/usr/share}  # overridable only to test this script
KITS=$SHARE/hydrogen/data/drumkits
SONGS=$SHARE/hydrogen/data/demo_songs
SONIC_PI=$SHARE/sonic-pi/samples

say() { printf 'install-system-deps: %s\n' "$*"; }

# The package whose files are missing, tested by file (dpkg may be absent).
missing_packages() {
    missing=""
    ls "$KITS"/BJA_Pacific/drumkit.xml >/dev/null 2>&1 || missing="$missing hydrogen-drumkits"
    { ls "$KITS"/GMRockKit/drumkit.xml && ls "$SONGS"/*.h2song; } >/dev/null 2>&1 \
        || missing="$missing hydrogen-data"
    ls "$SONIC_PI"/drum_bass_hard.flac >/dev/null 2>&1 || missing="$missing sonic-pi-samples"
    printf '%s' "${missing# }"
}

fallback_note() {
    if ls "$KITS"/*/drumkit.xml >/dev/null 2>&1 || ls "$SONIC_PI"/drum_bass_hard.flac >/dev/null 2>&1; then
        say "render-loops will use the kits that are installed (see: beatgan render-loops --list-kits)"
    else
        say "render-loops will use its built-in synthesised drum kit (numpy), not real recordings;"
        say "for real kits install: $PACKAGES (or point BEATGAN_DRUMKIT_PATH at Hydrogen kits)"
    fi
}

MISSING=$(missing_packages)
if [ -z "$MISSING" ]; then
    say "drum kits present ($PACKAGES)"
    exit 0
fi
say "missing: $MISSING"
if [ "${1:-}" = "--check" ]; then
    fallback_note
    exit 1
fi
if [ "${BEATGAN_SKIP_SYSTEM_DEPS:-0}" = "1" ]; then
    say "BEATGAN_SKIP_SYSTEM_DEPS=1: not installing"
    fallback_note
    exit 0
fi
apt_install "$MISSING" fallback_note
exit 0
