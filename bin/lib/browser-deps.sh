#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver (Debian packages chromium, chromium-driver) when
# missing: the human-evaluation page (gpt4llm eval hhh) is tested in a real browser.
# Run directly, or sourced by bin/run-tests.
set -euo pipefail

g4_ensure_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo=sudo; else
      echo "gpt4llm: ${missing[*]} missing and neither root nor sudo available to install them; the browser test of eval hhh will fail" >&2
      return 1
    fi
  fi
  echo "gpt4llm: installing ${missing[*]} (Debian packages, for the browser test of eval hhh)" >&2
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then g4_ensure_browser; fi
