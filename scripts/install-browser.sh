#!/bin/sh
# Install the browser that the loop lab's browser test drives (tests/test_lab.py):
#   chromium   Debian's Chromium, which Playwright (the `lab` extra, in `.[dev]`) launches
#              with executable_path=/usr/bin/chromium; Playwright's own browser download
#              needs a CDN that CI may not reach, Debian's mirror it does.
# --no-install-recommends keeps the download small (about 100 MB with its libraries).
#
# Idempotent and never fatal, like install-system-deps.sh: when a Chromium is there it
# returns at once; without apt-get or the rights to use it (root or password-less sudo),
# or if the install fails, it says that the browser test will be skipped and exits 0,
# so `make run`, `make test` and .ci/run go on.
#
# Usage: scripts/install-browser.sh [--check]
#   --check   only report; exit 1 if no Chromium is installed.
# Set BEATGAN_SKIP_SYSTEM_DEPS=1 (or BEATGAN_SKIP_BROWSER=1) to skip installing.

set -u

. "$(dirname "$0")/apt-install.sh"

PACKAGES="chromium"

say() { printf 'install-browser: %s\n' "$*"; }

find_chromium() {
    for candidate in "${BEATGAN_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s' "$candidate"
            return 0
        fi
    done
    return 1
}

skipped_note() {
    say "tests/test_lab.py's browser test will be skipped (it says why); the lab itself needs no browser here"
}

if FOUND=$(find_chromium); then
    say "chromium present ($FOUND)"
    exit 0
fi
say "missing: $PACKAGES"
if [ "${1:-}" = "--check" ]; then
    skipped_note
    exit 1
fi
if [ "${BEATGAN_SKIP_SYSTEM_DEPS:-0}" = "1" ] || [ "${BEATGAN_SKIP_BROWSER:-0}" = "1" ]; then
    say "BEATGAN_SKIP_SYSTEM_DEPS or BEATGAN_SKIP_BROWSER is 1: not installing"
    skipped_note
    exit 0
fi
apt_install "$PACKAGES" skipped_note
exit 0
